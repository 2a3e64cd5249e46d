// Command kube is the Wisp test bed's Kubernetes control plane in one binary,
// built from Kubernetes' own Go modules. The first argument picks the component;
// each one runs as its own process (hack/testbed starts them), so their global
// state (flags, metrics registries, feature gates) never meets:
//
//	kube etcd ARGS…                     go.etcd.io/etcd/server/v3/etcdmain
//	kube kube-apiserver ARGS…           k8s.io/kubernetes/cmd/kube-apiserver
//	kube kube-controller-manager ARGS…  k8s.io/kubernetes/cmd/kube-controller-manager
//	kube kube-scheduler ARGS…           k8s.io/kubernetes/cmd/kube-scheduler
//	kube kubectl ARGS…                  k8s.io/kubectl
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as in the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as in the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // build-info metric, as in the upstream mains
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: kube etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubectl [ARGS...]"

func main() {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	// Also answer to a symlink named after a component (busybox style).
	if base := filepath.Base(os.Args[0]); isComponent(base) {
		name = base
	} else {
		if len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		// Each component (cobra, etcd's flag set, kubectl plugins) reads os.Args:
		// make it look as if the component's own binary had been started.
		os.Args = append([]string{name}, os.Args[2:]...)
	}

	switch name {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubectl":
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "kube: unknown component %q\n%s\n", name, usage)
		os.Exit(2)
	}
}

func isComponent(s string) bool {
	switch s {
	case "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl":
		return true
	}
	return false
}
