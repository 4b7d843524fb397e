// Made-up listening data: the same user always gets the same history, different users differ.
import { createHash } from 'node:crypto'

const ARTISTS = [
  { name: 'Nina Simone', genres: ['jazz', 'soul', 'blues'] },
  { name: 'Miles Davis', genres: ['jazz'] },
  { name: 'Aretha Franklin', genres: ['soul', 'r&b'] },
  { name: 'Daft Punk', genres: ['electronic', 'house'] },
  { name: 'Aphex Twin', genres: ['electronic', 'ambient'] },
  { name: 'Radiohead', genres: ['rock', 'alternative'] },
  { name: 'Fleetwood Mac', genres: ['rock', 'pop'] },
  { name: 'Kendrick Lamar', genres: ['hip hop'] },
  { name: 'Missy Elliott', genres: ['hip hop', 'r&b'] },
  { name: 'Björk', genres: ['electronic', 'alternative', 'pop'] },
  { name: 'Johnny Cash', genres: ['country', 'folk'] },
  { name: 'Joni Mitchell', genres: ['folk', 'pop'] },
  { name: 'Fela Kuti', genres: ['afrobeat', 'funk'] },
  { name: 'Parliament', genres: ['funk', 'soul'] },
  { name: 'Brian Eno', genres: ['ambient', 'electronic'] },
  { name: 'Buena Vista Social Club', genres: ['son cubano', 'latin'] },
]
const WORDS = [
  'Blue',
  'Night',
  'River',
  'Gold',
  'Echo',
  'Fire',
  'Glass',
  'Summer',
  'Ghost',
  'Velvet',
  'Stone',
]

/**
 * The listening history of `userId`: 60 plays, most recent first.
 * @param {string} userId
 */
export function listeningHistory(userId) {
  const random = seededRandom(userId)
  // Each user favours a few artists, so their top genres stand out.
  const favourites = Array.from({ length: 4 }, () => pick(ARTISTS, random))
  let playedAt = Date.UTC(2025, 5, 1)
  const tracks = Array.from({ length: 60 }, () => {
    playedAt -= 3_600_000 * (1 + Math.floor(random() * 5))
    const artist = random() < 0.7 ? pick(favourites, random) : pick(ARTISTS, random)
    return {
      title: `${pick(WORDS, random)} ${pick(WORDS, random)}`,
      artist: artist.name,
      genres: artist.genres,
      playedAt: new Date(playedAt).toISOString(),
    }
  })
  return { userId, tracks }
}

function pick(items, random) {
  return items[Math.floor(random() * items.length)]
}

/** mulberry32, seeded from the user id. */
function seededRandom(seed) {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0)
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
