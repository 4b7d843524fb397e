import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  describeWithPostgres,
  type PostgresServer,
  postgresServerAvailability,
  startPostgresServer,
} from '../src/index.js'

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.setTimeout(1_000, () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(false))
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
  })
}

describe('postgresServerAvailability', () => {
  const saved = process.env.DATABASE_URL
  afterEach(() => {
    if (saved === undefined) delete process.env.DATABASE_URL
    else process.env.DATABASE_URL = saved
  })

  it('takes DATABASE_URL when set, unless the suite needs a server of its own', async () => {
    process.env.DATABASE_URL = 'postgres://app@db.example:6543/app'
    expect(postgresServerAvailability()).toEqual({ available: true, source: 'DATABASE_URL' })
    expect(postgresServerAvailability({ own: true })).not.toEqual({ available: true, source: 'DATABASE_URL' })
    const external = await startPostgresServer()
    expect(external).toMatchObject({
      url: process.env.DATABASE_URL,
      port: 6543,
      external: true,
      pid: undefined,
    })
    expect(() => external.pause()).toThrow(/of its own/)
    await expect(external.stop()).rejects.toThrow(/of its own/)
    await external.close()
  })
})

describeWithPostgres(
  'startPostgresServer',
  () => {
    let server: PostgresServer | undefined
    afterEach(async () => {
      await server?.close()
    })

    it('runs a throwaway cluster on a free loopback port; stop, restart and close by pid', async () => {
      server = await startPostgresServer({ own: true })
      expect(server.external).toBe(false)
      expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`)
      expect(server.pid).toBeGreaterThan(0)
      expect(await accepts(server.port)).toBe(true)
      await server.stop('SIGKILL')
      expect(server.pid).toBeUndefined()
      expect(await accepts(server.port)).toBe(false)
      await server.restart()
      expect(await accepts(server.port)).toBe(true)
      const pid = server.pid as number
      server.pause()
      server.resume()
      await server.stop()
      expect(existsSync(`/proc/${pid}`)).toBe(false)
      await server.restart()
      await server.close()
      expect(await accepts(server.port)).toBe(false)
      server = undefined
    }, 60_000)
  },
  { own: true },
)
