/**
 * @module The revocations a gateway checks every verified token against, in memory: a mirror of
 * the revocations file or of Redis, filled by the entrypoint (cli/revocations.ts). Checking costs
 * a few map lookups, nothing while the list is empty, and never a call to a store. Bounded: past
 * `maxEntries` a new entry is refused (a revocation is never dropped to make room); expired
 * entries are swept as entries come.
 */
import type { Claims } from '../auth/claims.ts'
import type { Revocation, TokenHashes } from './entry.ts'

/** Why a token is revoked (for the log), or undefined. */
export type RevokedBy = 'jti' | 'token' | 'sub' | 'issuer'

interface Before {
  readonly before: number
  readonly until: number
}

/**
 * The revocations in force. `confirmed` is false while the list may lag its store (Redis
 * unreachable since the last full sync); strict gateways then refuse tokens.
 *
 * @example
 * import { RevocationList } from 'jwtgate'
 * const list = new RevocationList()
 * list.add({ kind: 'sub', sub: 'alice', iss: undefined, before: 1767225600, until: 1767315600 }, Date.now())
 */
export class RevocationList {
  readonly #jti = new Map<string, Map<string, number>>()
  readonly #hash = new Map<string, number>()
  readonly #sub = new Map<string, Map<string, Before>>()
  readonly #issuer = new Map<string, Before>()
  readonly #listeners = new Set<(entries: readonly Revocation[]) => void>()
  #size = 0
  #nextSweep = 0
  #nextFullSweep = 0

  /** False while the list may lag its store. */
  confirmed = true

  /**
   * False until the list has been read from its store once (Redis: a process that started, or a
   * worker that was started again, while Redis was down). Such a list is not a list of none
   * revoked: the gateway refuses every token (503) and is not ready until it has been read.
   */
  loaded = true

  /** Entries kept at most. */
  constructor(readonly maxEntries = 1_000_000) {}

  /** Entries in force. */
  get size(): number {
    return this.#size
  }

  /** True when some entry is by token hash (the gateway then hashes verified tokens). */
  get hasHashes(): boolean {
    return this.#hash.size > 0
  }

  /**
   * Calls `listener` with the entries of every later change, once per change (one entry, or a
   * whole sync): the token cache drops what they cover in one pass.
   */
  onAdd(listener: (entries: readonly Revocation[]) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Adds an entry; false when the list is full (the entry is not in force). */
  add(entry: Revocation, nowMs: number): boolean {
    this.#sweepSometimes(nowMs)
    if (entry.until * 1000 <= nowMs) return true
    if (!this.hasRoomFor(entry, nowMs)) return false
    // An entry that changes nothing (announced again, written back) costs the listeners nothing.
    if (this.#put(entry)) { for (const listener of this.#listeners) listener([entry]) }
    return true
  }

  /**
   * True when `entry` can be added at `nowMs`: the list has room, or already holds what it
   * revokes. A full list first drops its expired entries (at most once a second): they are in
   * force no longer and must not keep a new revocation out.
   */
  hasRoomFor(entry: Revocation, nowMs: number): boolean {
    if (this.#size >= this.maxEntries && nowMs >= this.#nextFullSweep) {
      this.#nextFullSweep = nowMs + 1000
      this.#nextSweep = 0
      this.#sweepSometimes(nowMs)
    }
    return this.#size < this.maxEntries || this.#has(entry)
  }

  /**
   * Adds entries in one step (a sync that never takes any out: Redis's set); returns how many
   * were left out for want of room.
   */
  addAll(entries: readonly Revocation[], nowMs: number): number {
    this.#sweepSometimes(nowMs)
    let left = 0
    const added: Revocation[] = []
    for (const entry of entries) {
      if (entry.until * 1000 <= nowMs) continue
      if (!this.hasRoomFor(entry, nowMs)) left++
      else if (this.#put(entry)) added.push(entry)
    }
    if (added.length > 0) { for (const listener of this.#listeners) listener(added) }
    return left
  }

  /**
   * Replaces every entry at once (a full sync from the store); entries beyond `maxEntries` are
   * left out, and their count returned.
   */
  replace(entries: readonly Revocation[], nowMs: number): number {
    this.#jti.clear()
    this.#hash.clear()
    this.#sub.clear()
    this.#issuer.clear()
    this.#size = 0
    let left = 0
    for (const entry of entries) {
      if (entry.until * 1000 <= nowMs) continue
      if (this.#size >= this.maxEntries && !this.#has(entry)) left++
      else this.#put(entry)
    }
    if (entries.length > 0) { for (const listener of this.#listeners) listener(entries) }
    return left
  }

  /** Every entry in force (one per thing revoked; the widest when it was revoked twice). */
  entries(): Revocation[] {
    const out: Revocation[] = []
    for (const [jti, byIss] of this.#jti) {
      for (const [k, until] of byIss) out.push({ kind: 'jti', jti, iss: issOf(k), until })
    }
    for (const [hash, until] of this.#hash) out.push({ kind: 'token', hash, until })
    for (const [sub, bySub] of this.#sub) {
      for (const [k, b] of bySub) out.push({ kind: 'sub', sub, iss: issOf(k), ...b })
    }
    for (const [iss, b] of this.#issuer) out.push({ kind: 'issuer', iss, ...b })
    return out
  }

  /**
   * What revokes a verified token, if anything. `hash` is its `tokenHashes` (the values of
   * `token_sha256` that cover it), needed only when `hasHashes`.
   */
  revoked(claims: Claims, hash?: TokenHashes): RevokedBy | undefined {
    if (this.#size === 0) return undefined
    const iss = typeof claims.iss === 'string' ? claims.iss : ''
    if (typeof claims.jti === 'string') {
      const byIss = this.#jti.get(claims.jti)
      if (byIss !== undefined && (byIss.has('') || byIss.has(`=${iss}`))) return 'jti'
    }
    if (hash !== undefined && (this.#hash.has(hash[0]) || this.#hash.has(hash[1]))) return 'token'
    const iat = typeof claims.iat === 'number' ? claims.iat : -Infinity
    const issuer = this.#issuer.get(iss)
    if (issuer !== undefined && iat < issuer.before) return 'issuer'
    if (typeof claims.sub === 'string') {
      const bySub = this.#sub.get(claims.sub)
      if (bySub !== undefined) {
        const any = bySub.get('')
        if (any !== undefined && iat < any.before) return 'sub'
        const own = bySub.get(`=${iss}`)
        if (own !== undefined && iat < own.before) return 'sub'
      }
    }
    return undefined
  }

  /** True when `entry` would replace one already kept (it takes no new room). */
  #has(entry: Revocation): boolean {
    switch (entry.kind) {
      case 'jti':
        return this.#jti.get(entry.jti)?.has(issKey(entry.iss)) ?? false
      case 'token':
        return this.#hash.has(entry.hash)
      case 'sub':
        return this.#sub.get(entry.sub)?.has(issKey(entry.iss)) ?? false
      case 'issuer':
        return this.#issuer.has(entry.iss)
    }
  }

  /** Puts `entry` in force; true when that changed anything (new, or wider than before). */
  #put(entry: Revocation): boolean {
    const isNew = !this.#has(entry)
    if (isNew) this.#size++
    switch (entry.kind) {
      case 'jti': {
        let byIss = this.#jti.get(entry.jti)
        if (byIss === undefined) this.#jti.set(entry.jti, byIss = new Map())
        const key = issKey(entry.iss)
        const old = byIss.get(key) ?? 0
        byIss.set(key, Math.max(old, entry.until))
        return isNew || entry.until > old
      }
      case 'token': {
        const old = this.#hash.get(entry.hash) ?? 0
        this.#hash.set(entry.hash, Math.max(old, entry.until))
        return isNew || entry.until > old
      }
      case 'sub': {
        let bySub = this.#sub.get(entry.sub)
        if (bySub === undefined) this.#sub.set(entry.sub, bySub = new Map())
        const key = issKey(entry.iss)
        const old = bySub.get(key)
        bySub.set(key, wider(old, entry))
        return isNew || old === undefined || entry.before > old.before || entry.until > old.until
      }
      case 'issuer': {
        const old = this.#issuer.get(entry.iss)
        this.#issuer.set(entry.iss, wider(old, entry))
        return isNew || old === undefined || entry.before > old.before || entry.until > old.until
      }
    }
  }

  /** Drops expired entries, at most once a minute. */
  #sweepSometimes(nowMs: number): void {
    if (nowMs < this.#nextSweep) return
    this.#nextSweep = nowMs + 60_000
    const now = nowMs / 1000
    for (const [jti, byIss] of this.#jti) {
      for (const [k, until] of byIss) if (until <= now) (byIss.delete(k), this.#size--)
      if (byIss.size === 0) this.#jti.delete(jti)
    }
    for (const [h, until] of this.#hash) if (until <= now) (this.#hash.delete(h), this.#size--)
    for (const [sub, bySub] of this.#sub) {
      for (const [k, b] of bySub) if (b.until <= now) (bySub.delete(k), this.#size--)
      if (bySub.size === 0) this.#sub.delete(sub)
    }
    for (const [iss, b] of this.#issuer) {
      if (b.until <= now) (this.#issuer.delete(iss), this.#size--)
    }
  }
}

/** Entries for any issuer under '', for one issuer under `=iss` (no issuer string is ambiguous). */
function issKey(iss: string | undefined): string {
  return iss === undefined ? '' : `=${iss}`
}

function issOf(key: string): string | undefined {
  return key === '' ? undefined : key.slice(1)
}

/** Of two time revocations of the same thing, the one that covers more (later `before`). */
function wider(old: Before | undefined, entry: Before): Before {
  if (old === undefined) return { before: entry.before, until: entry.until }
  return { before: Math.max(old.before, entry.before), until: Math.max(old.until, entry.until) }
}
