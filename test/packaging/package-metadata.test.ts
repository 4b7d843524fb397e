// What a user checks before adopting a package: its license, where its source and issues are, a
// changelog for the version they install, and a tarball that carries LICENSE, README and CHANGELOG.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url))
const names = readdirSync(packagesDir).filter((name) => existsSync(join(packagesDir, name, 'package.json')))

interface PackageJson {
  name: string
  version: string
  license?: string
  keywords?: string[]
  homepage?: string
  bugs?: { url?: string }
  repository?: { type?: string; url?: string; directory?: string }
  files?: string[]
  bin?: Record<string, string>
}
const read = (name: string): PackageJson =>
  JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'))

describe('package metadata', () => {
  it('covers all eight packages', () => {
    expect(names.sort()).toEqual([
      'core',
      'digime',
      'express',
      'koa',
      'nestjs',
      'postgres',
      'redis',
      'testing',
    ])
  })

  it.each(names)('packages/%s names its license, repository, homepage, issues and keywords', (name) => {
    const pkg = read(name)
    expect(pkg.license).toBe('MIT')
    expect(pkg.repository).toMatchObject({ type: 'git', directory: `packages/${name}` })
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/)
    const repo = pkg.repository?.url?.replace(/^git\+/, '').replace(/\.git$/, '')
    expect(pkg.homepage).toBe(`${repo}/tree/main/packages/${name}#readme`)
    expect(pkg.bugs?.url).toBe(`${repo}/issues`)
    expect(pkg.keywords?.length).toBeGreaterThanOrEqual(5)
    expect(pkg.keywords).toContain('oauth')
  })

  it.each(names)('packages/%s has a CHANGELOG whose newest entry is its version', (name) => {
    const pkg = read(name)
    const changelog = readFileSync(join(packagesDir, name, 'CHANGELOG.md'), 'utf8')
    const newest = /^## (\S+)/m.exec(changelog)?.[1]
    expect(newest, `packages/${name}/CHANGELOG.md: newest "## <version>" heading`).toBe(pkg.version)
    expect(readFileSync(join(packagesDir, name, 'LICENSE'), 'utf8')).toMatch(/^MIT License/)
  })

  it.each(names)('npm pack of packages/%s carries LICENSE, README and CHANGELOG', (name) => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: join(packagesDir, name),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const [packed] = JSON.parse(out) as [{ files: { path: string }[] }]
    const paths = packed.files.map((file) => file.path)
    expect(paths).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']))
    // Only what the package needs: no tests, sources or configs; its commands' entry points.
    const commands = Object.values(read(name).bin ?? {}).map((path) => path.replace(/^\.\//, ''))
    expect(
      paths.filter(
        (path) =>
          !/^(dist\/|LICENSE$|README\.md$|CHANGELOG\.md$|package\.json$)/.test(path) &&
          !commands.includes(path),
      ),
    ).toEqual([])
  })
})
