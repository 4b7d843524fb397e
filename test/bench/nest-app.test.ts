// bench/nest-app.mjs, the NestJS contenders of `pnpm bench`: each answers GET /api, ours only with
// the user's cookie, and the floor has the shape of ours (one guard on the handler, one custom
// parameter decorator) with nothing in it, so that ours read against it measures our own code.

import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { describeRequiring } from '@ongoing/testing'
import { afterEach, expect, it } from 'vitest'
import { builtPackagesProblem } from '../built-packages.js'

const bench = (file: string) => new URL(`../../bench/${file}`, import.meta.url).href

interface NestApp {
  listen(port: number, host: string): Promise<unknown>
  getHttpServer(): { address(): AddressInfo }
  close(): Promise<void>
}
interface NestApps {
  createNestApp(
    kind: string,
    options?: { param?: boolean; accessOptions?: object },
  ): Promise<{ app: NestApp; access?: unknown; controller: { prototype: { get: object } } }>
}
interface OfflineAccess {
  offlineAccessOptions(options?: object): object
  seedGrant(access: unknown): Promise<string>
}

// Nest's metadata keys, from the Nest the bench runs: the guards of a handler, its parameters' sources.
const {
  GUARDS_METADATA: GUARDS,
  ROUTE_ARGS_METADATA: ROUTE_ARGS,
  CUSTOM_ROUTE_ARGS_METADATA: CUSTOM,
} = createRequire(bench('nest-app.mjs'))('@nestjs/common/constants') as {
  GUARDS_METADATA: string
  ROUTE_ARGS_METADATA: string
  CUSTOM_ROUTE_ARGS_METADATA: string
}

// Loaded by reflect-metadata, which bench/nest-app.mjs imports.
const metadata = (key: string, target: object, property?: string): unknown =>
  (
    Reflect as unknown as { getMetadata(key: string, target: object, property?: string): unknown }
  ).getMetadata(key, target, property)

const opened: NestApp[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((app) => app.close()))
})

describeRequiring('bench/nest-app.mjs', builtPackagesProblem(['core', 'nestjs']), () => {
  it.each([
    { kind: 'nest-bare', param: false, guards: 0, customParams: 0 },
    { kind: 'nest-bare', param: true, guards: 0, customParams: 1 },
    { kind: 'nest-noop', param: false, guards: 1, customParams: 0 },
    { kind: 'nest-floor', param: false, guards: 1, customParams: 1 },
    { kind: 'nest-ours', param: false, guards: 1, customParams: 1 },
  ])(
    '$kind (param: $param) has $guards guard(s), $customParams custom parameter(s), and answers ok',
    async ({ kind, param, guards, customParams }) => {
      const { createNestApp } = (await import(bench('nest-app.mjs'))) as NestApps
      const { offlineAccessOptions, seedGrant } = (await import(bench('offline-access.mjs'))) as OfflineAccess
      const { app, access, controller } = await createNestApp(kind, {
        param,
        accessOptions: offlineAccessOptions(),
      })
      opened.push(app)
      const handler = controller.prototype.get
      expect(((metadata(GUARDS, handler) ?? []) as unknown[]).length).toBe(guards)
      const args = Object.keys((metadata(ROUTE_ARGS, controller, 'get') ?? {}) as object)
      expect(args.filter((key) => key.includes(CUSTOM))).toHaveLength(customParams)
      expect(args).toHaveLength(customParams)

      const cookie = access === undefined ? 'ongoing.uid=none' : await seedGrant(access)
      await app.listen(0, '127.0.0.1')
      const url = `http://127.0.0.1:${app.getHttpServer().address().port}/api`
      const answer = await fetch(url, { headers: { cookie } })
      expect(answer.status).toBe(200)
      expect(await answer.text()).toBe('ok')
      const anonymous = await fetch(url, { headers: { accept: 'application/json' } })
      if (kind === 'nest-ours') {
        expect(anonymous.status).toBe(401)
        expect(await anonymous.json()).toMatchObject({ error: 'consent_required' })
      } else expect(anonymous.status).toBe(200)
    },
  )
})
