package daemon

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/runtime"
)

// limitWarnings compares the limits a container asked for with those its
// cgroup holds after start, and names each one that did not take effect:
// a limit silently missing is how a dev stack and production drift apart.
func limitWarnings(want *specs.LinuxResources, got runtime.Limits) []string {
	if want == nil {
		return nil
	}
	var out []string
	if m := want.Memory; m != nil && m.Limit != nil && *m.Limit > 0 {
		// The kernel rounds a limit down to whole pages.
		if diff := *m.Limit - got.MemoryBytes; got.MemoryBytes == 0 || diff < 0 || diff >= 64<<10 {
			out = append(out, fmt.Sprintf("memory limit %d bytes asked, the kernel holds %s", *m.Limit, orNone(got.MemoryBytes)))
		}
	}
	if p := want.Pids; p != nil && p.Limit != nil && *p.Limit > 0 && got.PidsMax != *p.Limit {
		out = append(out, fmt.Sprintf("pids limit %d asked, the kernel holds %s", *p.Limit, orNone(got.PidsMax)))
	}
	if c := want.CPU; c != nil {
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period > 0 {
				period = *c.Period
			}
			if got.CPUQuota != *c.Quota || got.CPUPeriod != period {
				out = append(out, fmt.Sprintf("cpu quota %d/%dµs asked, the kernel holds %s", *c.Quota, period, cpuHeld(got)))
			}
		}
		if c.Cpus != "" && got.Cpuset != c.Cpus {
			out = append(out, fmt.Sprintf("cpuset %q asked, the kernel holds %q", c.Cpus, got.Cpuset))
		}
	}
	return out
}

func orNone(v int64) string {
	if v == 0 {
		return "none"
	}
	return fmt.Sprint(v)
}

func cpuHeld(l runtime.Limits) string {
	if l.CPUQuota == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%dµs", l.CPUQuota, l.CPUPeriod)
}

// warnUnappliedLimits reads back the limits of a started container and
// reports the ones that did not take effect.
func (d *Daemon) warnUnappliedLimits(r *record, ev emitFunc) {
	if r.Spec == nil || r.Spec.Linux == nil || r.Spec.Linux.Resources == nil {
		return
	}
	_, rt, err := d.engines()
	if err != nil {
		return
	}
	got, err := rt.AppliedLimits(r.ID)
	if err != nil {
		d.log.Warn("read back limits", "container", r.Name, "err", err)
		return
	}
	for _, w := range limitWarnings(r.Spec.Linux.Resources, got) {
		ev(containerEvent(r, api.ActionWarning, fmt.Sprintf("%s: %s", r.Name, w)))
	}
}
