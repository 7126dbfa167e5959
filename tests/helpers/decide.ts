/**
 * The decision's three steps in one, as the gateway runs them (not collected: no `.test.`): the
 * decision when `request` may pass, else the GatewayError it is refused with, thrown.
 */
import { authenticate, authorize, type Decision, route } from '../../src/core/decide.ts'
import type { Target } from '../../src/core/routing/path.ts'
import type { State } from '../../src/core/state.ts'

export async function decide(state: State, request: Request, target: Target): Promise<Decision> {
  const match = route(state, request.method, target.path)
  const decision = await authenticate(state, match, request, target, undefined)
  authorize(decision, request.method)
  return decision
}
