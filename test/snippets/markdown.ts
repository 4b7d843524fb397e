// Reads the code blocks of the Markdown files and the `<!-- snippet: … -->` marker before each.
// The convention is described at the top of snippets.test.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'

/** What the test does with a block. */
export type SnippetKind =
  | { kind: 'run' }
  | { kind: 'serve'; path: string | undefined }
  | { kind: 'typecheck' }
  | { kind: 'skip'; reason: string }
  /** An excerpt of a file that a test of the repository runs (an example app, say). */
  | { kind: 'tested'; by: string }

export interface CodeBlock {
  /** The Markdown file, relative to the repository root. */
  readme: string
  /** 1-based line of the opening fence. */
  line: number
  /** The fence's info string, lower case (`ts`, `js`, `sh`…). */
  lang: string
  code: string
  /** The marker's text after `snippet:`, or `undefined` when the block has none. */
  marker: string | undefined
}

export interface Snippet extends CodeBlock {
  /** What runs or compiles: the block itself, or the full form it is an excerpt of. */
  source: string
  /** `ts` or `js`: how `source` is compiled or run. */
  language: 'ts' | 'js'
  /** The full form's path, relative to the repository root, when the marker names one. */
  fullForm: string | undefined
  what: SnippetKind
}

/** Block languages that must carry a marker: every TypeScript or JavaScript block. */
export const CODE_LANGUAGES = new Set([
  'ts',
  'typescript',
  'tsx',
  'mts',
  'cts',
  'js',
  'javascript',
  'jsx',
  'mjs',
  'cjs',
])

/** The Markdown files whose blocks are checked: the root README, each package's and example's, and docs/. */
export function markdownFiles(root: string): string[] {
  const files = ['README.md']
  for (const dir of ['packages', 'examples']) {
    if (existsSync(join(root, dir, 'README.md'))) files.push(`${dir}/README.md`)
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (existsSync(join(root, dir, name, 'README.md'))) files.push(`${dir}/${name}/README.md`)
    }
  }
  if (existsSync(join(root, 'docs'))) {
    for (const name of readdirSync(join(root, 'docs')).sort()) {
      if (name.endsWith('.md')) files.push(`docs/${name}`)
    }
  }
  return files
}

const MARKER = /^<!--\s*snippet:\s*(.*?)\s*-->$/

/** Every fenced code block of `readme` (relative to `root`), with the marker above it (blank lines between allowed). */
export function codeBlocks(root: string, readme: string): CodeBlock[] {
  const lines = readFileSync(join(root, readme), 'utf8').split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    // A fence may be indented (a block in a list item): its lines lose that indentation.
    const open = /^( *)(`{3,})(\S*)/.exec(lines[i] ?? '')
    if (!open) continue
    const indent = open[1] ?? ''
    const fence = open[2] ?? '```'
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !(lines[i] ?? '').trimStart().startsWith(fence); i++) {
      const line = lines[i] ?? ''
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart())
    }
    let above = start - 1
    while (above > 0 && (lines[above] ?? '').trim() === '') above--
    const before = (lines[above] ?? '').trim()
    blocks.push({
      readme,
      line: start + 1,
      lang: (open[3] ?? '').toLowerCase(),
      code: `${body.join('\n')}\n`,
      marker: MARKER.exec(before)?.[1],
    })
  }
  return blocks
}

/**
 * The snippet a block stands for, or a problem with its marker. `full <file> [run | serve [path] |
 * typecheck]` (default `run`) takes `<file>`, relative to the Markdown file, as what runs, once
 * the block is found to be a faithful excerpt of it (see `excerptProblem`).
 */
export function toSnippet(root: string, block: CodeBlock): Snippet | string {
  const where = `${block.readme}:${block.line}`
  const isCode = CODE_LANGUAGES.has(block.lang)
  if (block.marker === undefined) {
    return isCode
      ? `${where}: a ${block.lang} block without a <!-- snippet: … --> marker (run, serve, full, typecheck)`
      : {
          ...block,
          source: block.code,
          language: 'js',
          fullForm: undefined,
          what: { kind: 'skip', reason: 'not code' },
        }
  }
  const [word = '', ...rest] = block.marker.split(/\s+/)
  let fullForm: string | undefined
  let source = block.code
  let words = [word, ...rest]
  if (word === 'full') {
    const [file, ...after] = rest
    if (file === undefined) return `${where}: "full" names no file`
    fullForm = relative(root, join(root, dirname(block.readme), file))
    if (!existsSync(join(root, fullForm))) return `${where}: its full form ${fullForm} does not exist`
    source = readFileSync(join(root, fullForm), 'utf8')
    const problem = excerptProblem(block.code, source)
    if (problem !== undefined) return `${where}: not an excerpt of ${fullForm}: ${problem}`
    words = after.length === 0 ? ['run'] : after
  }
  const language =
    /\.(ts|mts|cts)$/.test(fullForm ?? '') ||
    (fullForm === undefined && /^(ts|typescript|tsx|mts|cts)$/.test(block.lang))
      ? 'ts'
      : 'js'
  const [kind, ...args] = words
  const snippet = (what: SnippetKind): Snippet => ({ ...block, source, language, fullForm, what })
  switch (kind) {
    case 'run':
      return isCode ? snippet({ kind: 'run' }) : `${where}: "run" on a ${block.lang} block`
    case 'serve':
      return isCode ? snippet({ kind: 'serve', path: args[0] }) : `${where}: "serve" on a ${block.lang} block`
    case 'typecheck':
      return isCode ? snippet({ kind: 'typecheck' }) : `${where}: "typecheck" on a ${block.lang} block`
    case 'tested-by': {
      // `full <file> tested-by <test>`: the file runs in <test> (relative to the repository root),
      // which must exist and name the file; the block is checked to be a faithful excerpt of it.
      const by = args[0]
      if (fullForm === undefined || by === undefined)
        return `${where}: "tested-by" goes after "full <file>" and names a test file`
      if (!existsSync(join(root, by))) return `${where}: its test ${by} does not exist`
      if (!readFileSync(join(root, by), 'utf8').includes(fullForm))
        return `${where}: its test ${by} does not mention ${fullForm}`
      return isCode ? snippet({ kind: 'tested', by }) : `${where}: "tested-by" on a ${block.lang} block`
    }
    case 'skip':
      if (isCode) return `${where}: a ${block.lang} block cannot be skipped: run, serve, full or typecheck it`
      if (args.length === 0) return `${where}: "skip" needs a reason`
      return snippet({ kind: 'skip', reason: args.join(' ') })
    default:
      return `${where}: unknown marker "${block.marker}"`
  }
}

/**
 * Why `excerpt` is not a faithful excerpt of `full`, or `undefined`. The excerpt's lines must be
 * the full form's lines, in order; a line that starts with `// …` (any indentation) in the excerpt
 * stands for lines of the full form left out, and elsewhere consecutive lines must stay consecutive.
 */
export function excerptProblem(excerpt: string, full: string): string | undefined {
  const fullLines = full.split('\n').map((line) => line.trimEnd())
  const chunks: string[][] = [[]]
  for (const line of excerpt.trimEnd().split('\n')) {
    if (line.trim().startsWith('// …')) chunks.push([])
    else chunks.at(-1)?.push(line.trimEnd())
  }
  let from = 0
  for (const chunk of chunks) {
    if (chunk.length === 0) continue
    let found = -1
    for (let i = from; i + chunk.length <= fullLines.length; i++) {
      if (chunk.every((line, j) => fullLines[i + j] === line)) {
        found = i
        break
      }
    }
    if (found < 0) return `no run of lines starting "${chunk[0]}" after line ${from} of the full form`
    from = found + chunk.length
  }
  return undefined
}
