/**
 * @module One bounded wrk run: `-d` ends it, and a hard kill 10 s later ends a wrk that hangs.
 * Keep-alive connections (wrk's default), `--latency` for the percentiles, the token rotation and
 * result line from wrk-tokens.lua. wrk's output is kept in `outFile`.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HOST } from './http.mjs'
import { start } from './proc.mjs'

const SCRIPT = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'wrk-tokens.lua',
)

/** Resolves to `{ rps, p50_us, p99_us, requests, non2xx, socket_errors }`, or `{ error }`. */
export async function wrk(
  { port, tokenFile, seconds, connections, threads, outFile },
) {
  const args = [
    '-t',
    String(threads),
    '-c',
    String(connections),
    '-d',
    `${seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    '-s',
    SCRIPT,
    `http://${HOST}:${port}/bench/items?id=42`,
    '--',
    tokenFile,
  ]
  fs.writeFileSync(outFile, `$ wrk ${args.join(' ')}\n`)
  const child = start('wrk', args, { logFile: outFile })
  const hardKill = setTimeout(
    () => child.kill('SIGKILL'),
    (seconds + 10) * 1000,
  )
  await child.exited
  clearTimeout(hardKill)
  const output = fs.readFileSync(outFile, 'utf8')
  const line = output.match(/^BENCH (.*)$/m)
  if (line === null) {
    return {
      error: `wrk ${JSON.stringify(child.exitInfo)}: ${output.trim().slice(-200)}`,
    }
  }
  return Object.fromEntries(
    line[1].split(' ').map((pair) => pair.split('=')).map((
      [k, v],
    ) => [k, Number(v)]),
  )
}
