// The marker rules of the snippet test: a code block cannot dodge it, and a full form that drifts
// from its excerpt is caught.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeBlocks, excerptProblem, type Snippet, toSnippet } from './markdown.js'

const root = mkdtempSync(join(tmpdir(), 'ongoing-markdown-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const FULL = `import { OngoingAccess } from '@ongoing/core'

const access = new OngoingAccess(options)
await access.ready()
const { url } = await access.startConsent({ userKey: 'u' })
console.log(url)
`

function parse(markdown: string): (Snippet | string)[] {
  mkdirSync(join(root, 'pkg'), { recursive: true })
  writeFileSync(join(root, 'pkg', 'README.md'), markdown)
  writeFileSync(join(root, 'pkg', 'full.ts'), FULL)
  return codeBlocks(root, 'pkg/README.md').map((block) => toSnippet(root, block))
}

describe('snippet markers', () => {
  it('reads each block with the marker above it, blank lines between allowed', () => {
    const [run, serve, typecheck, shell] = parse(
      [
        '<!-- snippet: run -->',
        '```js',
        'console.log(1)',
        '```',
        '<!-- snippet: serve /history -->',
        '',
        '```ts',
        'x',
        '```',
        'text',
        '<!-- snippet: typecheck -->',
        '```ts',
        'y',
        '```',
        '```sh',
        'npm install x',
        '```',
      ].join('\n'),
    ) as Snippet[]
    expect(run).toMatchObject({
      line: 2,
      lang: 'js',
      language: 'js',
      code: 'console.log(1)\n',
      what: { kind: 'run' },
    })
    expect(serve).toMatchObject({ line: 7, language: 'ts', what: { kind: 'serve', path: '/history' } })
    expect(typecheck).toMatchObject({ line: 12, what: { kind: 'typecheck' } })
    expect(shell).toMatchObject({ lang: 'sh', what: { kind: 'skip' } })
  })

  it('reads a block indented in a list item, without its indentation', () => {
    const [marked, unmarked] = parse(
      [
        '1. Rotate:',
        '',
        '   <!-- snippet: typecheck -->',
        '',
        '   ```js',
        '   if (x) {',
        '     y()',
        '   }',
        '   ```',
        '',
        '   ```ts',
        '   z',
        '   ```',
      ].join('\n'),
    )
    expect(marked).toMatchObject({ line: 5, code: 'if (x) {\n  y()\n}\n', what: { kind: 'typecheck' } })
    expect(unmarked).toMatch(/^pkg\/README\.md:11: a ts block without a/)
  })

  it('fails a TypeScript or JavaScript block without a marker, or one that is skipped', () => {
    expect(parse('```ts\nx\n```\n\n```mjs\ny\n```\n')).toEqual([
      'pkg/README.md:1: a ts block without a <!-- snippet: … --> marker (run, serve, full, typecheck)',
      'pkg/README.md:5: a mjs block without a <!-- snippet: … --> marker (run, serve, full, typecheck)',
    ])
    expect(parse('<!-- snippet: skip too long -->\n```js\nx\n```\n')).toEqual([
      'pkg/README.md:2: a js block cannot be skipped: run, serve, full or typecheck it',
    ])
    expect(parse('<!-- snippet: runs -->\n```js\nx\n```\n')).toEqual([
      'pkg/README.md:2: unknown marker "runs"',
    ])
    expect(parse('<!-- snippet: skip -->\n```sh\nx\n```\n')).toEqual([
      'pkg/README.md:2: "skip" needs a reason',
    ])
  })

  it('takes a full form as what runs, when the block is an excerpt of it', () => {
    const excerpt = [
      '<!-- snippet: full full.ts serve /p -->',
      '```ts',
      'const access = new OngoingAccess(options)',
      '// … the user consents',
      'console.log(url)',
      '```',
    ].join('\n')
    const [snippet] = parse(excerpt) as Snippet[]
    expect(snippet).toMatchObject({
      fullForm: 'pkg/full.ts',
      source: FULL,
      what: { kind: 'serve', path: '/p' },
    })
    const [drifted] = parse(excerpt.replace('options', 'settings'))
    expect(drifted).toMatch(
      /^pkg\/README\.md:2: not an excerpt of pkg\/full\.ts: no run of lines starting "const access = new OngoingAccess\(settings\)"/,
    )
    expect(parse('<!-- snippet: full gone.ts -->\n```ts\nx\n```\n')).toEqual([
      'pkg/README.md:2: its full form pkg/gone.ts does not exist',
    ])
  })

  it('takes an excerpt of a file that a named test runs, and checks that test names the file', () => {
    mkdirSync(join(root, 'test'), { recursive: true })
    writeFileSync(join(root, 'test', 'full.test.ts'), "spawn('pkg/full.ts')\n")
    writeFileSync(join(root, 'test', 'other.test.ts'), '// nothing\n')
    const excerpt = (by: string) =>
      [`<!-- snippet: full full.ts tested-by ${by} -->`, '```ts', 'console.log(url)', '```'].join('\n')
    const [snippet] = parse(excerpt('test/full.test.ts')) as Snippet[]
    expect(snippet).toMatchObject({
      fullForm: 'pkg/full.ts',
      what: { kind: 'tested', by: 'test/full.test.ts' },
    })
    expect(parse(excerpt('test/other.test.ts'))).toEqual([
      'pkg/README.md:2: its test test/other.test.ts does not mention pkg/full.ts',
    ])
    expect(parse(excerpt('test/gone.test.ts'))).toEqual([
      'pkg/README.md:2: its test test/gone.test.ts does not exist',
    ])
    expect(parse('<!-- snippet: tested-by test/full.test.ts -->\n```ts\nx\n```\n')).toEqual([
      'pkg/README.md:2: "tested-by" goes after "full <file>" and names a test file',
    ])
    expect(parse(excerpt('test/full.test.ts').replace('url', 'uri'))[0]).toMatch(
      /not an excerpt of pkg\/full\.ts/,
    )
  })

  it("keeps an excerpt's consecutive lines consecutive, and its order", () => {
    expect(excerptProblem('await access.ready()\nconsole.log(url)\n', FULL)).toMatch(/no run of lines/)
    expect(excerptProblem('console.log(url)\n// …\nawait access.ready()\n', FULL)).toMatch(/no run of lines/)
    expect(excerptProblem('await access.ready()\n// …\nconsole.log(url)\n', FULL)).toBeUndefined()
  })
})
