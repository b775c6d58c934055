// Command dev runs the whole product on one machine: `make dev` builds and
// starts it, `make dev-reset` deletes its data. See internal/dev/devstack.
package main

import (
	"os"

	"github.com/promptq/promptq/internal/dev/devstack"
)

func main() {
	os.Exit(devstack.Main(os.Args[1:], os.Stdout, os.Stderr))
}
