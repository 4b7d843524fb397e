// What the `typecheck` fragments of the READMEs take as given: the names a fragment uses without
// defining them, declared here with their real types, so a fragment that drifts from the API
// fails to compile. Add a name here when a new fragment needs one; keep the types exact.
declare const access: import('@ongoing/core').OngoingAccess
