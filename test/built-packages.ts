// The tests that run the built packages (child processes, CommonJS consumers, module hooks) check
// them here first: a dist that is missing, or older than its sources, would test other code.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const packages = fileURLToPath(new URL('../packages/', import.meta.url))

/**
 * Why `dist/<file>` of the packages `names` cannot be used (missing, or older than a source file),
 * or `undefined` when it can: the problem to give `describeRequiring`.
 */
export function builtPackagesProblem(names: readonly string[], file = 'index.js'): string | undefined {
  for (const name of names) {
    const dist = join(packages, name, 'dist', file)
    if (!existsSync(dist))
      return `packages/${name}/dist/${file} is missing (run pnpm build; the root pnpm test does)`
    const built = statSync(dist).mtimeMs
    const src = join(packages, name, 'src')
    const newer = readdirSync(src, { recursive: true, encoding: 'utf8' }).find(
      (source) => source.endsWith('.ts') && statSync(join(src, source)).mtimeMs > built,
    )
    if (newer !== undefined)
      return `packages/${name}/dist is older than src/${newer} (run pnpm build; the root pnpm test does)`
  }
  return undefined
}
