// Command etcd builds the etcd server from its Go modules. etcd's own server module carries relative
// replace directives, so it cannot be installed with `go install`; this wrapper requires it instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
