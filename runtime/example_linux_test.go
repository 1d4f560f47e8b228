package runtime_test

import (
	"context"
	"fmt"
	"log"

	"github.com/stack-dev/stack/runtime"
)

// The whole lifecycle of a container, as a daemon drives it. The binary
// must dispatch runtime.IsInit/runtime.Init first thing in main.
func Example() {
	ctx := context.Background()
	m, err := runtime.New(runtime.Options{StateRoot: "/run/stack/runtime"})
	if err != nil {
		log.Fatal(err)
	}
	rootfs := "/var/lib/stack/rootfs/web-1" // an assembled root file system
	spec := runtime.DefaultSpec("httpd", "-f", "-p", "8080")
	spec.Hostname = "web-1"
	user, err := runtime.ResolveUser(rootfs, "www-data")
	if err != nil {
		log.Fatal(err)
	}
	spec.Process.User = user.Spec()
	caps, err := runtime.TweakCapabilities(runtime.DefaultCapabilities(), []string{"NET_ADMIN"}, []string{"MKNOD"}, false)
	if err != nil {
		log.Fatal(err)
	}
	spec.Process.Capabilities.Bounding = caps
	spec.Process.Capabilities.Effective = caps
	spec.Process.Capabilities.Permitted = caps

	if err := m.Create(ctx, "web-1", runtime.Config{Spec: spec, Rootfs: rootfs, NetNS: "/run/netns/web-1", Init: true}); err != nil {
		log.Fatal(err)
	}
	if err := m.Start(ctx, "web-1"); err != nil {
		log.Fatal(err)
	}
	st, err := m.Wait(ctx, "web-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.ExitCode, st.OOMKilled)
	if err := m.Delete(ctx, "web-1", false); err != nil {
		log.Fatal(err)
	}
}
