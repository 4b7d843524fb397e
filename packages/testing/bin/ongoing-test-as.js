#!/usr/bin/env node
// The command's entry point lives in dist/, which exists only once the package is built; this
// file is in the repository, so installing the workspace links the command without a warning.
import '../dist/cli.js'
