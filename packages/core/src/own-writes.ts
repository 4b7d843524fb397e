/** One write of this process under way, and how many change notifications of its grant it heard. */
export interface PendingWrite {
  heard: number
  /** Another write of this process to the same grant succeeded meanwhile. */
  raced: boolean
}

/**
 * Tells whether a write of this process was the only change of its grant while it was under way.
 * A store announces every write, ours included (before the write returns), without saying whose it
 * was: a write that heard exactly one notification (its own) and saw no other write of this process
 * to the same grant succeed wrote the newest grant, and may fill the cache with it; any other raced
 * another writer, and leaves the next read to find out which grant is newest.
 */
export class OwnWrites {
  readonly #pending = new Map<string, PendingWrite[]>()

  /** A write of `userKey`'s grant starts. */
  start(userKey: string): PendingWrite {
    const write: PendingWrite = { heard: 0, raced: false }
    const list = this.#pending.get(userKey)
    if (list === undefined) this.#pending.set(userKey, [write])
    else list.push(write)
    return write
  }

  /** A change notification for `userKey`'s grant: every write of it under way hears it. */
  heard(userKey: string): void {
    const list = this.#pending.get(userKey)
    if (list !== undefined) for (const write of list) write.heard++
  }

  /**
   * The write ended (`written`: it changed the store). Returns whether it was the only change of its
   * grant meanwhile: it heard exactly `ownEchoes` notifications (1 when the store notifies, whose
   * own write is heard before it returns; 0 when it does not) and no other write of this process
   * to the same grant succeeded. The other writes of this process to the same grant under way count
   * this one now.
   */
  end(userKey: string, write: PendingWrite, written: boolean, ownEchoes: 0 | 1): boolean {
    const list = this.#pending.get(userKey)
    if (list !== undefined) {
      const at = list.indexOf(write)
      if (at !== -1) list.splice(at, 1)
      if (written) for (const other of list) other.raced = true
      if (list.length === 0) this.#pending.delete(userKey)
    }
    return !write.raced && write.heard === ownEchoes
  }
}
