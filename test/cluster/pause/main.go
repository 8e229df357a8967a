// The pod sandbox ("pause") process of the one-node test cluster: it holds the pod's namespaces open,
// reaps zombies (it is PID 1 when the pod shares its PID namespace) and exits on SIGINT/SIGTERM. No
// image registry is reachable from the test machines, so the cluster builds this instead of pulling
// registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
