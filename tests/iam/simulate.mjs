// Evaluates IAM requests with @cloud-copilot/iam-simulate, an IAM simulator independent of MiniStack's engine.
// stdin: a JSON list of {principal, account, action, resource, context, identity: [docs], boundary: [docs],
// resource_policy};
// stdout: a JSON list of {result, ignored, errors}, one per request, in order.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const requests = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const out = []
for (const r of requests) {
  const simulation = {
    request: {
      principal: r.principal,
      action: r.action,
      resource: { resource: r.resource, accountId: r.account },
      contextVariables: r.context,
    },
    identityPolicies: r.identity.map((policy, i) => ({ name: `identity-${i}`, policy })),
    permissionBoundaryPolicies: r.boundary.length
      ? r.boundary.map((policy, i) => ({ name: `boundary-${i}`, policy }))
      : undefined,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: r.resource_policy || undefined,
  }
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    out.push({ result: 'Error', ignored: [], errors: response.errors })
  } else if (response.resultType === 'single') {
    out.push({ result: response.overallResult, ignored: response.result.ignoredContextKeys || [], errors: null })
  } else {
    out.push({ result: response.overallResult, ignored: [], errors: 'wildcard resource' })
  }
}
process.stdout.write(JSON.stringify(out))
