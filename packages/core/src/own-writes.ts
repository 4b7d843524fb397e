/** One write of this process, waiting for the store's change notification of it. */
interface PendingWrite {
  /** A notification was taken as this write's own. */
  heard: boolean
}

/**
 * Tells this process's own writes apart from other writers' in the store's change notifications.
 * A store announces every write, ours included, and does not say whose it was. Each write of ours
 * expects one notification: the first one heard for that grant while the write is under way is
 * taken as its own (no change to act on); any further one is another writer's. When the write then
 * turns out not to have happened (it lost its compare-and-set, or failed), the notification it took
 * was another writer's after all, and `end` says so.
 */
export class OwnWrites {
  readonly #pending = new Map<string, PendingWrite[]>()

  /** A write of `userKey`'s grant starts. */
  start(userKey: string): PendingWrite {
    const write: PendingWrite = { heard: false }
    const list = this.#pending.get(userKey)
    if (list === undefined) this.#pending.set(userKey, [write])
    else list.push(write)
    return write
  }

  /** A notification for `userKey`'s grant: `true` when it is taken as one of our writes' own. */
  heard(userKey: string): boolean {
    const write = this.#pending.get(userKey)?.find((each) => !each.heard)
    if (write === undefined) return false
    write.heard = true
    return true
  }

  /**
   * The write ended (`written`: it changed the store). Returns `true` when a notification it took
   * as its own was another writer's: the caller must treat it as a change now.
   */
  end(userKey: string, write: PendingWrite, written: boolean): boolean {
    const list = this.#pending.get(userKey)
    if (list !== undefined) {
      const at = list.indexOf(write)
      if (at !== -1) list.splice(at, 1)
      if (list.length === 0) this.#pending.delete(userKey)
    }
    return write.heard && !written
  }
}
