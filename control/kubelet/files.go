package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resolvConf renders /etc/resolv.conf for pod following dnsPolicy and
// dnsConfig. hostConf is the node's own resolv.conf (for dnsPolicy Default
// and as the fallback when no cluster DNS is configured).
func resolvConf(pod *v1.Pod, clusterDNS []string, domain string, hostConf []byte) string {
	var servers, search, opts []string
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = v1.DNSDefault
	}
	if (policy == v1.DNSClusterFirst || policy == v1.DNSClusterFirstWithHostNet) && len(clusterDNS) == 0 {
		policy = v1.DNSDefault
	}
	switch policy {
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		servers = append(servers, clusterDNS...)
		search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		opts = []string{"ndots:5"}
	case v1.DNSDefault:
		servers, search, opts = parseResolvConf(hostConf)
	case v1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = appendUnique(servers, dc.Nameservers...)
		search = appendUnique(search, dc.Searches...)
		for _, o := range dc.Options {
			v := o.Name
			if o.Value != nil {
				v += ":" + *o.Value
			}
			replaced := false
			for i, old := range opts {
				if strings.SplitN(old, ":", 2)[0] == o.Name {
					opts[i], replaced = v, true
				}
			}
			if !replaced {
				opts = append(opts, v)
			}
		}
	}
	if len(servers) > 3 {
		servers = servers[:3]
	}
	if len(search) > 32 {
		search = search[:32]
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

func parseResolvConf(data []byte) (servers, search, opts []string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	return
}

func appendUnique(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, l := range list {
			if l == a {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// podHostname is the pod's hostname (spec.hostname or its name).
func podHostname(pod *v1.Pod) string {
	if pod.Spec.HostNetwork {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	if len(pod.Name) > 63 {
		return strings.TrimRight(pod.Name[:63], "-.")
	}
	return pod.Name
}

// hostsFile renders /etc/hosts: localhost, the pod's own name (and FQDN
// when spec.subdomain is set) on its IP, and hostAliases.
func hostsFile(pod *v1.Pod, podIP, domain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (written by skiff agent).\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := podHostname(pod)
	if podIP != "" {
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", podIP, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, host)
		}
	}
	for _, ha := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
	}
	return b.String()
}

// prepareVolumes materialises the pod's volumes under dir/volumes and
// returns the host path of each by name. Service-account tokens of
// projected volumes come from a token manager of its own (no cache).
func prepareVolumes(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, dir string) (map[string]string, error) {
	return prepareVolumesWith(ctx, client, newTokenManager(client, nil, nil), pod, dir)
}

// prepareVolumesWith is prepareVolumes with the kubelet's token manager.
func prepareVolumesWith(ctx context.Context, client kubernetes.Interface, tokens *tokenManager, pod *v1.Pod, dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, vol := range pod.Spec.Volumes {
		vdir := filepath.Join(dir, "volumes", vol.Name)
		switch {
		case vol.EmptyDir != nil:
			if err := os.MkdirAll(vdir, 0o777); err != nil {
				return nil, err
			}
			_ = os.Chmod(vdir, 0o777)
			paths[vol.Name] = vdir
		case vol.HostPath != nil:
			p := vol.HostPath.Path
			t := v1.HostPathUnset
			if vol.HostPath.Type != nil {
				t = *vol.HostPath.Type
			}
			switch t {
			case v1.HostPathDirectoryOrCreate:
				if err := os.MkdirAll(p, 0o755); err != nil {
					return nil, fmt.Errorf("volume %s: create hostPath %s: %w", vol.Name, p, err)
				}
			case v1.HostPathFileOrCreate:
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return nil, err
				}
				f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
				if err != nil {
					return nil, fmt.Errorf("volume %s: create hostPath file %s: %w", vol.Name, p, err)
				}
				f.Close()
			case v1.HostPathUnset:
			default:
				st, err := os.Stat(p)
				if err != nil {
					return nil, fmt.Errorf("volume %s: hostPath %s: %w", vol.Name, p, err)
				}
				if t == v1.HostPathDirectory && !st.IsDir() || t == v1.HostPathFile && st.IsDir() {
					return nil, fmt.Errorf("volume %s: hostPath %s is not of type %s", vol.Name, p, t)
				}
			}
			paths[vol.Name] = p
		case vol.ConfigMap != nil:
			cm, err := client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, vol.ConfigMap.Name, metav1.GetOptions{})
			optional := vol.ConfigMap.Optional != nil && *vol.ConfigMap.Optional
			data := map[string][]byte{}
			if err != nil {
				if !(apierrors.IsNotFound(err) && optional) {
					return nil, fmt.Errorf("volume %s: configmap %q: %w", vol.Name, vol.ConfigMap.Name, err)
				}
			} else {
				for k, v := range cm.Data {
					data[k] = []byte(v)
				}
				for k, v := range cm.BinaryData {
					data[k] = v
				}
			}
			if err := writeKeyFiles(vdir, data, vol.ConfigMap.Items, vol.ConfigMap.DefaultMode, optional); err != nil {
				return nil, fmt.Errorf("volume %s: %w", vol.Name, err)
			}
			paths[vol.Name] = vdir
		case vol.Secret != nil:
			s, err := client.CoreV1().Secrets(pod.Namespace).Get(ctx, vol.Secret.SecretName, metav1.GetOptions{})
			optional := vol.Secret.Optional != nil && *vol.Secret.Optional
			data := map[string][]byte{}
			if err != nil {
				if !(apierrors.IsNotFound(err) && optional) {
					return nil, fmt.Errorf("volume %s: secret %q: %w", vol.Name, vol.Secret.SecretName, err)
				}
			} else {
				data = s.Data
			}
			if err := writeKeyFiles(vdir, data, vol.Secret.Items, vol.Secret.DefaultMode, optional); err != nil {
				return nil, fmt.Errorf("volume %s: %w", vol.Name, err)
			}
			paths[vol.Name] = vdir
		case vol.Projected != nil, vol.DownwardAPI != nil:
			if err := writeProjected(ctx, client, tokens, pod, &vol, vdir); err != nil {
				return nil, err
			}
			paths[vol.Name] = vdir
		default:
			return nil, fmt.Errorf("volume %s: unsupported volume type (skiff supports emptyDir, hostPath, configMap, secret, downwardAPI and projected)", vol.Name)
		}
	}
	return paths, nil
}

func writeKeyFiles(dir string, data map[string][]byte, items []v1.KeyToPath, defaultMode *int32, optional bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	var files []file
	if len(items) == 0 {
		for k, v := range data {
			files = append(files, file{k, v, mode})
		}
	} else {
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				if optional {
					continue
				}
				return fmt.Errorf("key %q not found", it.Key)
			}
			m := mode
			if it.Mode != nil {
				m = os.FileMode(*it.Mode)
			}
			files = append(files, file{it.Path, v, m})
		}
	}
	for _, f := range files {
		clean := filepath.Clean("/" + f.path)[1:]
		if clean == "" || strings.HasPrefix(f.path, "/") || strings.Contains(f.path, "..") {
			return fmt.Errorf("invalid item path %q", f.path)
		}
		p := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p+".tmp", f.data, f.mode); err != nil {
			return err
		}
		_ = os.Chmod(p+".tmp", f.mode)
		if err := os.Rename(p+".tmp", p); err != nil {
			return err
		}
	}
	return nil
}

// containerMounts turns volumeMounts plus the pod's hosts, resolv.conf and
// hostname files into bind mounts.
func containerMounts(c *v1.Container, vols map[string]string, dir string) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, vm := range c.VolumeMounts {
		src, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" {
			if strings.Contains(vm.SubPath, "..") || filepath.IsAbs(vm.SubPath) {
				return nil, fmt.Errorf("volumeMount %q: invalid subPath %q", vm.Name, vm.SubPath)
			}
			src = filepath.Join(src, vm.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		opt := "rw"
		if vm.ReadOnly {
			opt = "ro"
		}
		out = append(out, specs.Mount{Type: "bind", Source: src, Destination: vm.MountPath, Options: []string{"rbind", "rprivate", opt}})
	}
	for _, f := range []string{"hosts", "resolv.conf", "hostname"} {
		out = append(out, specs.Mount{Type: "bind", Source: filepath.Join(dir, "etc", f), Destination: "/etc/" + f, Options: []string{"rbind", "rprivate", "rw"}})
	}
	return out, nil
}
