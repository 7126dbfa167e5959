/**
 * @module One HTTP request at a time on 127.0.0.1, for checks and start-up polling (the load
 * itself is wrk's). A fresh connection each time (`agent: false`): nothing carries over between
 * checks. Never throws: a failure is `{ status: 0, error }`.
 */
import http from 'node:http'

export const HOST = '127.0.0.1'

export function get(port, path = '/', headers = {}, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const request = http.request({
      host: HOST,
      port,
      path,
      headers,
      agent: false,
      timeout: timeoutMs,
    }, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on(
        'end',
        () =>
          resolve({
            status: response.statusCode,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
      )
      response.on(
        'error',
        (error) => resolve({ status: 0, error: error.code ?? error.message }),
      )
    })
    request.on(
      'timeout',
      () =>
        request.destroy(
          Object.assign(new Error('timeout'), { code: 'TIMEOUT' }),
        ),
    )
    request.on(
      'error',
      (error) => resolve({ status: 0, error: error.code ?? error.message }),
    )
    request.end()
  })
}

/** Something already answers on `port` (another run, another program). */
export async function portTaken(port) {
  const response = await get(port, '/', {}, 500)
  return response.status > 0 || response.error !== 'ECONNREFUSED'
}

/**
 * Polls until `port` answers any HTTP status, the child exits, or `timeoutMs` passes; resolves
 * to undefined when it answers, else to the reason.
 */
export async function waitForHttp(port, child, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (child?.exitInfo !== undefined) {
      return `exited ${JSON.stringify(child.exitInfo)}`
    }
    if ((await get(port, '/', {}, 1000)).status > 0) return undefined
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return `no answer on ${HOST}:${port} within ${timeoutMs} ms`
}
