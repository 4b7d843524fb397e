import { createHash } from 'node:crypto'

/** A Lua script and its SHA-1, for EVALSHA with an EVAL fallback. */
export interface LuaScript {
  readonly source: string
  readonly sha: string
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

// Records are hashes { n = version, v = value }. The lock key holds its holder's random token.
// Every script that changes a record publishes on the change channel in the same atomic step, so a
// subscriber never hears of a write it cannot read yet.

/**
 * Compare-and-set write with an optional fencing check.
 * KEYS: record, lock. ARGV: expected version, value, ttl ms ('' = none), lock token ('' = none),
 * channel, message. Returns the new version, 0 when the version did not match, -1 when the lock is
 * not held by that token.
 */
export const SET_SCRIPT = script(`
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
local current = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
local version = current + 1
redis.call('HSET', KEYS[1], 'n', version, 'v', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('PERSIST', KEYS[1])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return version
`)

/**
 * Delete, optionally only at a version. KEYS: record. ARGV: expected version ('' = any), channel,
 * message. Returns 1 when deleted, else 0.
 */
export const DELETE_SCRIPT = script(`
local current = redis.call('HGET', KEYS[1], 'n')
if not current then return 0 end
if ARGV[1] ~= '' and tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`)

/** Releases a lock held by a token. KEYS: lock. ARGV: token. Returns 1 when released. */
export const RELEASE_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

/** Extends a lock held by a token. KEYS: lock. ARGV: token, ttl ms. Returns 1 when extended. */
export const EXTEND_SCRIPT = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
