/**
 * Revocations through a real redis-server: what one process stores reaches another's mirror by
 * pub/sub within 100 ms; a process whose subscription was cut is unconfirmed meanwhile, and on
 * reconnecting loads the whole set again — revocations made while it was away included; a
 * process starting later loads what is there.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { type Redis, Redis as IORedis } from 'ioredis'
import { createLogger } from '../../src/core/log.ts'
import { parseRevocation, type Revocation } from '../../src/core/revocation/entry.ts'
import { RevocationList } from '../../src/core/revocation/list.ts'
import { connectRedis } from '../../src/redis/client.ts'
import { RedisRevocations, roomProblem, storeRevocation } from '../../src/redis/revocations.ts'
import { relay, startRedis, type TestRedis } from '../helpers/redis.ts'
import { pollUntil } from '../helpers/wait.ts'

let redis: TestRedis
const opened: { close(): void }[] = []
const now = () => Math.floor(Date.now() / 1000)
const entry = (v: unknown) => parseRevocation(v, now(), 3600) as Revocation

beforeAll(async () => {
  redis = await startRedis()
})

afterAll(async () => {
  for (const o of opened) o.close()
  await redis.kill()
})

/** A process's mirror: its own two connections (through `port`, default Redis's own). */
async function mirror(
  port = redis.port,
  prefix = 'rv-test:',
  timeoutMs = 200,
  waitMs = 5000,
  clock = Date.now,
) {
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', format: 'json', sink: (l) => lines.push(l) })
  const config = {
    url: `redis://127.0.0.1:${port}`,
    timeoutMs,
    onFailure: 'local',
    prefix,
  } as const
  const client: Redis = connectRedis(config)
  const subscriber: Redis = connectRedis(config)
  const list = new RevocationList()
  const sync = new RedisRevocations(client, subscriber, list, {
    prefix,
    logger,
    now: clock,
    maxLifetimeSec: 3600,
  })
  opened.push({
    close() {
      sync.close()
      client.disconnect()
      subscriber.disconnect()
    },
  })
  // waitMs 0: not waited for (a process started while Redis is away).
  if (waitMs > 0) await pollUntil(() => list.confirmed, waitMs, 10)
  return { list, sync, lines, events: () => lines.map((l) => JSON.parse(l).event) }
}

test("a revocation stored by one process is in another's mirror within 100 ms", async () => {
  const [a, b] = [await mirror(), await mirror()]
  const started = performance.now()
  await a.sync.revoke(entry({ sub: 'alice' }))
  expect(a.list.revoked({ sub: 'alice', iat: 1 })).toBe('sub')
  await pollUntil(() => b.list.revoked({ sub: 'alice', iat: 1 }) === 'sub', 1000, 2)
  expect(performance.now() - started).toBeLessThan(100)
})

test(
  'a large set (250,000 entries) loads within the per-command deadline of 50 ms, page by page',
  async () => {
    const filler = new IORedis(redis.port, '127.0.0.1')
    const until = now() + 3000
    await filler.eval(
      `for i = 1, tonumber(ARGV[1]) do
      redis.call('ZADD', KEYS[1], ARGV[2] * 1000, '{"jti":"j' .. i .. '","until":' .. ARGV[2] .. '}')
    end`,
      1,
      'rv-big:rv',
      250_000,
      until,
    )
    filler.disconnect()
    // The event loop while it loads: requests go on being served (the whole-set work in one
    // step held it ~0.5 s here).
    let last = performance.now()
    let longest = 0
    const watch = setInterval(() => {
      const at = performance.now()
      longest = Math.max(longest, at - last)
      last = at
    }, 5)
    const big = await mirror(redis.port, 'rv-big:', 50, 20_000)
    await Bun.sleep(100) // the write-back check after the load, page by page too
    clearInterval(watch)
    expect(longest).toBeLessThan(250)
    expect(big.list.size).toBe(250_000)
    expect(big.list.revoked({ jti: 'j249999' })).toBe('jti')
    // Page by page, each page within the deadline: loaded at the first attempt as a rule. A page
    // that a pause of this shared machine pushes past 50 ms costs a retry (seen once under load);
    // one read of the whole set could never load (its every attempt passes the deadline).
    expect(big.events().filter((e) => e === 'revocations_unconfirmed').length)
      .toBeLessThanOrEqual(2)
  },
  30_000,
)

test("entries expire in Redis by Redis's clock: a writer whose clock runs 2 h ahead deletes none in force", async () => {
  const prefix = 'rv-clock:'
  const a = await mirror(redis.port, prefix)
  await a.sync.revoke(entry({ jti: 'half-hour', until: now() + 1800 }))
  const aheadMs = 2 * 3600_000
  const ahead = await mirror(redis.port, prefix, 200, 5000, () => Date.now() + aheadMs)
  const later = parseRevocation({ jti: 'later' }, now() + aheadMs / 1000, 3600) as Revocation
  await ahead.sync.revoke(later)
  const late = await mirror(redis.port, prefix)
  expect(late.list.revoked({ jti: 'half-hour' })).toBe('jti')
  expect(late.list.revoked({ jti: 'later' })).toBe('jti')
})

test('a process that starts later loads what is stored', async () => {
  const a = await mirror()
  await a.sync.revoke(entry({ jti: 'early' }))
  const late = await mirror()
  expect(late.list.revoked({ jti: 'early' })).toBe('jti')
  expect(late.events()).toContain('revocations_synced')
})

test('a cut subscription: unconfirmed meanwhile; on reconnecting, what was revoked meanwhile is loaded', async () => {
  const link = relay(redis.port)
  const a = await mirror()
  const b = await mirror(link.port)
  link.cut()
  await pollUntil(() => !b.list.confirmed, 2000, 10)
  expect(b.events()).toContain('revocations_unconfirmed')
  await a.sync.revoke(entry({ jti: 'while-away' }))
  await Bun.sleep(100)
  expect(b.list.revoked({ jti: 'while-away' })).toBeUndefined()
  link.restore()
  await pollUntil(() => b.list.confirmed, 5000, 10)
  expect(b.list.revoked({ jti: 'while-away' })).toBe('jti')
  // One line per change: unconfirmed once, synced again once.
  expect(b.events().filter((e) => e === 'revocations_unconfirmed')).toHaveLength(1)
})

test('a process that starts while Redis is unreachable has no list loaded until Redis answers; then it has, and keeps it through the next outage', async () => {
  const link = relay(redis.port)
  const a = await mirror()
  await a.sync.revoke(entry({ jti: 'before-start' }))
  link.cut()
  const b = await mirror(link.port, 'rv-test:', 200, 0)
  await Bun.sleep(300)
  expect(b.list.loaded).toBe(false)
  expect(b.list.revoked({ jti: 'before-start' })).toBeUndefined()
  link.restore()
  await pollUntil(() => b.list.loaded && b.list.confirmed, 5000, 10)
  expect(b.list.revoked({ jti: 'before-start' })).toBe('jti')
  link.cut()
  await pollUntil(() => !b.list.confirmed, 3000, 10)
  expect(b.list.loaded).toBe(true)
  link.restore()
})

test('an announcement that is not a revocation is logged and ignored', async () => {
  const a = await mirror()
  const size = a.list.size
  expect(await redis.command(`PUBLISH rv-test:rv '{"role":"admin"}'`)).toMatch(/^:/)
  await pollUntil(() => a.events().includes('revocation_invalid'), 1000, 5)
  expect(a.list.size).toBe(size)
})

test('entries expire in Redis with the tokens they cover', async () => {
  const a = await mirror(redis.port, 'rv-expiry:')
  await a.sync.revoke(entry({ jti: 'soon', until: now() + 1 }))
  await a.sync.revoke(entry({ jti: 'later' }))
  expect(await redis.command('ZCARD rv-expiry:rv')).toBe(':2')
  await Bun.sleep(2100)
  await a.sync.revoke(entry({ jti: 'third' }))
  expect(await redis.command('ZCARD rv-expiry:rv')).toBe(':2')
})

test(
  'Redis restarted empty: a running process writes its revocations back, and a new one sees them',
  async () => {
    const a = await mirror(redis.port, 'rv-restore:')
    await a.sync.revoke(entry({ sub: 'mallory' }))
    await redis.kill()
    await pollUntil(() => !a.list.confirmed, 3000, 10)
    await redis.restart()
    await pollUntil(() => a.list.confirmed, 10_000, 20)
    // The write-back follows the sync that confirmed the list.
    await pollUntil(() => a.events().includes('revocations_restored'), 5000, 10)
    const late = await mirror(redis.port, 'rv-restore:')
    expect(late.list.revoked({ sub: 'mallory', iat: 1 })).toBe('sub')
  },
  20_000,
)

test(
  'a connection that dies without closing: unconfirmed within the heartbeat timeout, both connections start again, and what was revoked meanwhile is loaded',
  async () => {
    const link = relay(redis.port)
    const a = await mirror()
    const b = await mirror(link.port)
    link.silence() // the open connections drop everything; TCP would notice after minutes
    await a.sync.revoke(entry({ jti: 'while-silent' }))
    const silenced = Date.now()
    await pollUntil(() => !b.list.confirmed, 5000, 10)
    expect(Date.now() - silenced).toBeLessThan(4000)
    expect(b.lines.some((l) => l.includes('no heartbeat came back'))).toBe(true)
    // New connections go through: the mirror syncs again and has what it missed.
    await pollUntil(() => b.list.confirmed, 10_000, 10)
    expect(b.list.revoked({ jti: 'while-silent' })).toBe('jti')
  },
  20_000,
)

test('the set gone from Redis (FLUSHDB, an eviction) while the mirror holds entries: written back within a heartbeat', async () => {
  const a = await mirror(redis.port, 'rv-flush:')
  await a.sync.revoke(entry({ jti: 'kept' }))
  await redis.command('DEL rv-flush:rv')
  await pollUntil(() => a.events().includes('revocations_restored'), 5000, 20)
  const later = await mirror(redis.port, 'rv-flush:')
  expect(later.list.revoked({ jti: 'kept' })).toBe('jti')
})

test(
  'a heartbeat left unanswered when the connections closed does not end the subscription that follows',
  async () => {
    const link = relay(redis.port)
    const b = await mirror(link.port)
    link.silence() // the next heartbeat goes out and is never answered…
    await Bun.sleep(1200)
    link.cut() // …then the connections close (Redis killed, say), before its 2 s are up
    await pollUntil(() => !b.list.confirmed, 3000, 10)
    link.restore()
    await pollUntil(() => b.list.confirmed, 10_000, 10)
    // Healthy from here: no heartbeat of the old connections counts against the new ones.
    await Bun.sleep(3000)
    expect(b.list.confirmed).toBe(true)
    expect(b.lines.some((l) => l.includes('no heartbeat came back'))).toBe(false)
  },
  20_000,
)

test('roomProblem() (jwtgate revoke holds no list): Redis holding maxEntries revocations in force takes no new one — expired ones and one already stored do not count', async () => {
  const client = connectRedis({
    url: `redis://127.0.0.1:${redis.port}`,
    timeoutMs: 500,
    onFailure: 'local',
    prefix: 'room:',
  })
  opened.push({ close: () => client.disconnect() })
  await new Promise((resolve) => client.once('ready', resolve))
  const expired = { ...entry({ jti: 'old' }), until: now() - 10 }
  await client.zadd(
    'room:rv',
    expired.until * 1000,
    JSON.stringify({ jti: 'old', until: expired.until }),
  )
  const [a, b, c] = ['a', 'b', 'c'].map((jti) => entry({ jti }))
  for (const stored of [a!, b!]) await storeRevocation(client, 'room:', stored)
  expect(await roomProblem(client, 'room:', c!, 2)).toMatch(
    /^the revocation list is full \(2 entries in force, revocations.maxEntries\): not stored$/,
  )
  expect(await roomProblem(client, 'room:', a!, 2)).toBeUndefined()
  expect(await roomProblem(client, 'room:', c!, 3)).toBeUndefined()
})
