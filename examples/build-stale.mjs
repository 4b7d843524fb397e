// What `pnpm demo` runs before the demo: builds the packages, and the NestJS example, whose build
// is missing or older than one of its sources, and nothing else. With nothing changed since the
// last build it builds nothing and takes a fraction of a second.
//
//   node examples/build-stale.mjs [--dry-run]     --dry-run: say what is stale, build nothing
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// BUILD_STALE_ROOT: another checkout's root (the test points it at a made-up tree).
const root = process.env.BUILD_STALE_ROOT ?? fileURLToPath(new URL('..', import.meta.url))
const dryRun = process.argv.includes('--dry-run')

/** Newest modification time of the files under `path` (a file or a folder), 0 if none. */
function newest(path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let at = 0
  for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) at = Math.max(at, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return at
}

/** Oldest modification time of the files directly in `dist`, 0 when it is missing or empty. */
function oldestOutput(dist) {
  if (!existsSync(dist)) return 0
  const times = readdirSync(dist, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => statSync(join(dist, entry.name)).mtimeMs)
  return times.length === 0 ? 0 : Math.min(...times)
}

/** Why `folder`'s build is stale (a sentence), or undefined when it is up to date. */
function staleness(folder, inputs) {
  const built = oldestOutput(join(folder, 'dist'))
  if (built === 0) return 'not built yet'
  const changed = inputs.find((input) => newest(join(folder, input)) > built)
  return changed === undefined ? undefined : `${changed} changed since the last build`
}

const packageInputs = ['src', 'package.json', 'tsup.config.ts', 'tsconfig.json']
const stalePackages = readdirSync(join(root, 'packages'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, 'packages', entry.name, 'package.json')))
  .map((entry) => ({ name: entry.name, why: staleness(join(root, 'packages', entry.name), packageInputs) }))
  .filter(({ why }) => why !== undefined)

const nestjsWhy = staleness(join(root, 'examples', 'nestjs'), ['src', 'package.json', 'tsconfig.json'])

function run(args) {
  if (dryRun) return
  const result = spawnSync('pnpm', args, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

if (stalePackages.length > 0) {
  for (const { name, why } of stalePackages) console.log(`build: packages/${name} (${why})`)
  // pnpm builds them in dependency order.
  run(['-r', ...stalePackages.flatMap(({ name }) => ['--filter', `./packages/${name}`]), 'run', 'build'])
}
if (nestjsWhy !== undefined) {
  console.log(`build: examples/nestjs (${nestjsWhy})`)
  run(['--filter', 'example-nestjs', 'run', 'build'])
}
if (stalePackages.length === 0 && nestjsWhy === undefined) console.log('build: everything is up to date')
