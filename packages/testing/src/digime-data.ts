import { createHash } from 'node:crypto'

/** One play in a user's listening history, as the digi.me test server serves it. */
export interface DigiMePlay {
  /** Unique within the user's history. */
  id: string
  /** When the track was played, ISO 8601 in UTC (`2024-01-05T18:22:00.000Z`). */
  playedAt: string
  /** The track's title. */
  title: string
  artist: string
  /** The artist's genres, most specific first; at least one. */
  genres: string[]
  durationMs: number
}

/** A file list entry of `GET permission-access/query/{sessionKey}`. */
export interface DigiMeFileListEntry {
  name: string
  /** Unix milliseconds. */
  updatedDate: number
}

/** The body of one file: a month of listening history. */
export interface DigiMeListeningHistoryFile {
  fileMetadata: {
    objectType: 'playhistory'
    serviceGroup: 'entertainment'
    serviceName: 'music'
    /** The month the file covers, `YYYY-MM`. */
    period: string
    objectCount: number
  }
  fileData: DigiMePlay[]
}

const CATALOGUE = [
  { artist: 'The Velvet Hours', genres: ['indie rock', 'rock'], tracks: ['Slow Lanterns', 'Paper Moons'] },
  { artist: 'Mara Quell', genres: ['synthpop', 'pop'], tracks: ['Glass Arcade', 'Static Hearts'] },
  { artist: 'Ostinato Trio', genres: ['jazz'], tracks: ['Blue Meridian', 'Seven Bars Late'] },
  { artist: 'Kofi Brandt', genres: ['hip hop'], tracks: ['Concrete Psalms', 'Night Bus'] },
  { artist: 'Lumen Choir', genres: ['classical', 'choral'], tracks: ['Vespers in D', 'Low Light'] },
  { artist: 'Dust & Diesel', genres: ['country'], tracks: ['Two-Lane Prayer', 'Tailwind'] },
  { artist: 'Neon Tides', genres: ['house', 'electronic'], tracks: ['Undertow', 'Harbour Lights'] },
  { artist: 'Saffron Skies', genres: ['folk'], tracks: ['Kettle Song', 'The Long Field'] },
] as const

const MONTHS = ['2024-01', '2024-02', '2024-03'] as const
const PLAYS_PER_MONTH = 12

/**
 * A user's listening history, the same for the same `userId` on every run: 36 plays over January
 * to March 2024, with a taste (a favourite genre or two) that depends on the user.
 */
export function generateListeningHistory(userId: string): DigiMePlay[] {
  const random = seededRandom(userId)
  // Each user likes each artist differently; squaring spreads the weights into a clear taste.
  const weights = CATALOGUE.map(() => random() ** 2)
  const totalWeight = weights.reduce((sum, weight) => sum + weight, 0)
  const pickArtist = (): (typeof CATALOGUE)[number] => {
    let point = random() * totalWeight
    for (const [index, weight] of weights.entries()) {
      point -= weight
      if (point <= 0) return CATALOGUE[index]!
    }
    return CATALOGUE[CATALOGUE.length - 1]!
  }
  const plays: DigiMePlay[] = []
  for (const month of MONTHS) {
    const start = Date.parse(`${month}-01T00:00:00Z`)
    for (let index = 0; index < PLAYS_PER_MONTH; index++) {
      const artist = pickArtist()
      const title = artist.tracks[Math.floor(random() * artist.tracks.length)]!
      // Spread over the first 28 days, in order, at whole minutes.
      const minute = Math.floor(((index + random()) / PLAYS_PER_MONTH) * 28 * 24 * 60)
      plays.push({
        id: `${month}-${String(index + 1).padStart(2, '0')}`,
        playedAt: new Date(start + minute * 60_000).toISOString(),
        title,
        artist: artist.artist,
        genres: [...artist.genres],
        durationMs: 150_000 + Math.floor(random() * 150) * 1_000,
      })
    }
  }
  return plays
}

/** The files a history is served as: one per month with plays, named `listening-history-YYYY-MM.json`. */
export function toListeningHistoryFiles(plays: DigiMePlay[]): Map<string, DigiMeListeningHistoryFile> {
  const byMonth = new Map<string, DigiMePlay[]>()
  for (const play of plays) {
    const month = play.playedAt.slice(0, 7)
    byMonth.set(month, [...(byMonth.get(month) ?? []), play])
  }
  const files = new Map<string, DigiMeListeningHistoryFile>()
  for (const month of [...byMonth.keys()].sort()) {
    const fileData = byMonth.get(month) ?? []
    files.set(`listening-history-${month}.json`, {
      fileMetadata: {
        objectType: 'playhistory',
        serviceGroup: 'entertainment',
        serviceName: 'music',
        period: month,
        objectCount: fileData.length,
      },
      fileData,
    })
  }
  return files
}

/** The time a file was last updated: its latest play, or 0 for an empty file. */
export function fileUpdatedDate(file: DigiMeListeningHistoryFile): number {
  return file.fileData.reduce((latest, play) => Math.max(latest, Date.parse(play.playedAt) || 0), 0)
}

/** mulberry32, seeded from the user id: reproducible, and different per user. */
function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0)
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
