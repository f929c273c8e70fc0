// Campfire chat UI: plain DOM on top of CampfireClient, one module per view in web/ui/ (see
// web/README.md). This entry wires the views' event listeners and restores the session.

import { setupAttachments } from "./ui/attachments.js";
import { setupBanner } from "./ui/banner.js";
import { setupChat, startChat } from "./ui/chat.js";
import { setupComposer } from "./ui/composer.js";
import { load } from "./ui/dom.js";
import { setupDrawers } from "./ui/drawers.js";
import { setupMembers } from "./ui/members.js";
import { setupMentions } from "./ui/mentions.js";
import { setupMessageList } from "./ui/message-list.js";
import { startOnboarding } from "./ui/onboarding.js";
import { setupPeople } from "./ui/people.js";
import { setupRoomList } from "./ui/room-list.js";
import { setupSearch } from "./ui/search.js";
import { setupSignin } from "./ui/signin.js";
import { SESSION_KEY } from "./ui/state.js";

setupSignin();
setupChat();
setupBanner();
setupRoomList();
setupMessageList();
setupComposer();
setupMentions();
setupMembers();
setupDrawers();
setupAttachments();
setupSearch();
setupPeople();

const saved = load(SESSION_KEY, null);
if (saved?.token && saved?.user?.id) startChat(saved);
else startOnboarding(); // first run, a join link, or sign-in
