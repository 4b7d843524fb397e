// What the examples' HTTP tests share: a browser's cookies, and reading the apps' /grants page.
import { expect } from 'vitest'

/** A browser's cookies, enough for one origin. */
export class CookieJar {
  readonly #cookies = new Map<string, string>()
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
  keep(response: Response): void {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';')
      const at = pair.indexOf('=')
      this.#cookies.set(pair.slice(0, at), pair.slice(at + 1))
    }
  }
}

/** One row of an app's /grants page. */
export interface GrantRow {
  userKey: string
  status: string
  /** The row's cells, by class: `next-refresh`, `failures`, `last-error`, `consent-required`, … */
  cells: Record<string, string>
}

/** The rows of a /grants page, its cells as text. */
export function grantRows(html: string): GrantRow[] {
  const rows: GrantRow[] = []
  for (const [, userKey, status, body] of html.matchAll(
    /<tr data-user-key="([^"]*)" data-status="([^"]*)">([\s\S]*?)<\/tr>/g,
  )) {
    const cells: Record<string, string> = {}
    for (const [, name, cell] of body!.matchAll(/<td class="([^"]+)">([\s\S]*?)<\/td>/g))
      cells[name!] = text(cell!)
    rows.push({ userKey: unescapeHTML(userKey!), status: status!, cells })
  }
  return rows
}

/**
 * Fails if `html` holds token material: any of `tokens`, or anything shaped like a token (a run of
 * 40 or more base64url characters: opaque tokens, JWT parts), or the names of token fields.
 */
export function expectNoTokenMaterial(html: string, tokens: readonly string[] = []): void {
  for (const token of tokens) expect(html.includes(token), 'a token on the page').toBe(false)
  expect(html).not.toMatch(/[A-Za-z0-9_-]{40,}/)
  expect(html).not.toMatch(/access_token|refresh_token|id_token|bearer/i)
}

function text(html: string): string {
  return unescapeHTML(html.replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim()
}

function unescapeHTML(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) =>
    name === 'amp' ? '&' : name === 'lt' ? '<' : name === 'gt' ? '>' : name === 'quot' ? '"' : "'",
  )
}
