"""The domain layer: every rule of who may do what lives here.

HTTP handlers and Socket.IO handlers are thin adapters over `Services`; domain actions
announce their effects through the `Notifier`, never by talking to sockets directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db import Database
from app.metrics import Metrics
from app.notifier import Notifier
from app.services.admission import AdmissionService
from app.services.attachments import AttachmentService
from app.services.auth import AuthService, Principal
from app.services.bots import BotService
from app.services.lifecycle import LifecycleService
from app.services.live_presence import LivePresence
from app.services.messages import MessageService
from app.services.onboarding import OnboardingService
from app.services.people import PeopleService
from app.services.presence import PresenceService
from app.services.push import PushService
from app.services.readstate import ReadStateService
from app.services.rooms import RoomService
from app.services.search import SearchService
from app.services.typing import TypingService
from app.services.users import UserService
from app.state import RealtimeState
from app.storage import create_storage


@dataclass
class Services:
    settings: Settings
    db: Database
    state: RealtimeState
    notifier: Notifier
    metrics: Metrics
    auth: AuthService
    users: UserService
    rooms: RoomService
    messages: MessageService
    presence: PresenceService
    typing: TypingService
    admission: AdmissionService
    readstate: ReadStateService
    lifecycle: LifecycleService
    search: SearchService
    attachments: AttachmentService
    push: PushService
    people: PeopleService
    onboarding: OnboardingService
    bots: BotService

    async def close(self) -> None:
        await self.messages.close()
        await self.attachments.storage.close()
        await self.push.close()

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        state: RealtimeState,
        notifier: Notifier,
        metrics: Metrics | None = None,
    ) -> Services:
        metrics = metrics or Metrics()
        typing = TypingService(settings, db, state, notifier)
        live = LivePresence(db, settings.live_presence_max_members)
        rooms = RoomService(db, state, notifier, typing, live, settings.room_member_ids_max)
        presence = PresenceService(settings, state, notifier, rooms, typing, live)
        attachments = AttachmentService(settings, db, rooms, create_storage(settings))
        auth = AuthService(settings, db, state, notifier)
        users = UserService(db, notifier, rooms.brief)
        messages = MessageService(settings, db, state, notifier, metrics, rooms, typing)
        messages.attachments = attachments
        search = SearchService(db, rooms)
        lifecycle = LifecycleService(db, notifier, rooms, messages)
        # A deleted message's files go with it (PROTOCOL.md 9.1), once the tombstone is stored.
        lifecycle.after_delete.append(attachments.remove_files_of)
        # A thumbnail made after its message was sent is a change to that message (a new rev).
        attachments.thumbnail_arrived.append(lifecycle.attachments_changed)
        people = PeopleService(db, auth, notifier)
        bots = BotService(settings, db, state, notifier, metrics, users, people, rooms, messages)
        messages.stored_hooks.append(bots.on_message)
        # A deleted room's files go with it (PROTOCOL.md 9.3); its rows cascade.
        rooms.after_deletion_hooks.append(attachments.remove_room_files)
        return cls(
            settings=settings,
            db=db,
            state=state,
            notifier=notifier,
            metrics=metrics,
            auth=auth,
            users=users,
            rooms=rooms,
            messages=messages,
            presence=presence,
            typing=typing,
            admission=AdmissionService(settings, state, metrics),
            readstate=ReadStateService(db, notifier, settings.room_member_ids_max),
            lifecycle=lifecycle,
            search=search,
            attachments=attachments,
            push=PushService(settings, db, state, metrics),
            people=people,
            onboarding=OnboardingService(db, users, auth),
            bots=bots,
        )


__all__ = ["Principal", "Services"]
