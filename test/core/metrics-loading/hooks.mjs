// Module hooks (node:module register) that tell the main thread each time the built @ongoing/core
// resolves `@opentelemetry/api` (whether or not it is there to be found).
let port
export function initialize(data) {
  port = data.port
}
export async function resolve(specifier, context, next) {
  if (specifier === '@opentelemetry/api' && /\/dist\/index\.c?js$/.test(context.parentURL ?? ''))
    port.postMessage(specifier)
  return next(specifier, context)
}
