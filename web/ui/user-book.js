// Names of users by id, fetched as soon as an unknown id shows up (someone created after the page
// loaded, added to a room, or writing for the first time). No DOM here: Node tests drive it.

/**
 * `fetchUsers()` returns the directory (GET /api/users). An unknown id asks for a fetch at once;
 * asks made while one is under way give one more fetch after it; an id still unknown after a fetch
 * (deactivated, or not in the directory) is not asked for again for `retryMs`.
 */
export class UserBook {
  constructor({ fetchUsers, onChange = () => {}, now = () => Date.now(), defer = (fn) => setTimeout(fn, 0), retryMs = 30000 }) {
    this._fetchUsers = fetchUsers;
    this._onChange = onChange;
    this._now = now;
    this._defer = defer;
    this._retryMs = retryMs;
    this.users = new Map(); // id -> user
    this._asked = new Map(); // unknown id -> when it was last looked for
    this._pending = false; // a fetch is wanted
    this._busy = false; // a fetch is scheduled or under way
  }

  get(id) {
    return this.users.get(id) || null;
  }

  /** The user's name, or null while unknown (then looked up). */
  name(id) {
    const u = this.users.get(id);
    if (u?.name) return u.name;
    this.lookup(id);
    return null;
  }

  lookup(id) {
    if (id == null || this.users.has(id)) return;
    const last = this._asked.get(id);
    if (last != null && this._now() - last < this._retryMs) return;
    this._asked.set(id, this._now());
    this._pending = true;
    if (!this._busy) {
      this._busy = true;
      this._defer(() => this._run());
    }
  }

  /** Fetch the directory now (sign-in, or an explicit refresh). */
  refresh() {
    this._pending = true;
    if (this._busy) return this._done;
    this._busy = true;
    return this._run();
  }

  async _run() {
    let resolve;
    this._done = new Promise((r) => (resolve = r));
    try {
      while (this._pending) {
        this._pending = false;
        let users;
        try {
          users = await this._fetchUsers();
        } catch {
          break; // keep the names we have; the next unknown id after retryMs asks again
        }
        for (const u of users || []) {
          if (!u?.id) continue;
          this.users.set(u.id, u);
          this._asked.delete(u.id);
        }
        this._onChange(users || []);
      }
    } finally {
      this._busy = false;
      resolve();
    }
  }

  clear() {
    this.users.clear();
    this._asked.clear();
  }
}
