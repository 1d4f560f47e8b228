package seccomp

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/stack-dev/stack/internal/errdefs"
)

// The return values of a filter (linux/seccomp.h). The low 16 bits carry
// the errno of retErrno and the message of retTrace.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// The flags of seccomp(SECCOMP_SET_MODE_FILTER, ...).
const (
	flagTsync     = 1
	flagLog       = 2
	flagSpecAllow = 4
)

const (
	errnoEPERM  = 1
	errnoENOSYS = 38
)

// maxInstructions is the kernel's limit on a filter (BPF_MAXINSNS).
const maxInstructions = 4096

// The layout of struct seccomp_data: nr, arch, instruction_pointer, args[6].
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Program is a compiled profile, ready to load. It is plain data (it
// travels to the container's init as JSON).
type Program struct {
	// Filter is the sock_filter array in the host's byte order.
	Filter []byte `json:"filter"`
	// Flags are the profile's flags for seccomp(2) (SECCOMP_FILTER_FLAG_*);
	// Load adds SECCOMP_FILTER_FLAG_TSYNC.
	Flags uint `json:"flags,omitempty"`
	// Unknown lists the names of the profile that no architecture of the
	// program knows: a typo, or a call newer than this build's tables.
	Unknown []string `json:"unknown,omitempty"`
}

// Len returns the number of instructions of the program.
func (p *Program) Len() int { return len(p.Filter) / 8 }

// rule is one entry of the profile for one system call.
type rule struct {
	ret  uint32
	args []specs.LinuxSeccompArg
}

// region is a range of system call numbers [lo, hi] with one verdict:
// ret, or, for a single number with argument rules, rules then fallback.
type region struct {
	lo, hi   uint32
	ret      uint32
	rules    []rule
	fallback uint32
}

// Compile turns profile into a filter for a process of goarch (a GOARCH
// value: amd64, 386, arm64 or arm). The architectures the filter admits are
// those of profile.Architectures that goarch can use, or the native one
// when the profile lists none. An invalid profile (an unknown action or
// operator, an argument index over 5) is an error wrapping
// errdefs.ErrInvalidArgument; so is a profile that needs a listener
// (SCMP_ACT_NOTIFY), which stack does not support.
func Compile(profile *specs.LinuxSeccomp, goarch string) (*Program, error) {
	if profile == nil {
		return nil, fmt.Errorf("seccomp: no profile: %w", errdefs.ErrInvalidArgument)
	}
	all := abis(goarch)
	if len(all) == 0 {
		return nil, fmt.Errorf("seccomp: architecture %s is not supported: %w", goarch, errdefs.ErrNotImplemented)
	}
	if profile.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath: a seccomp agent is not supported: %w", errdefs.ErrNotImplemented)
	}
	def, err := action(profile.DefaultAction, profile.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	var flags uint
	for _, f := range profile.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			flags |= flagLog
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= flagSpecAllow
		default:
			return nil, fmt.Errorf("seccomp: flag %q is not supported: %w", f, errdefs.ErrInvalidArgument)
		}
	}
	rules := make([]rule, len(profile.Syscalls))
	for i, sc := range profile.Syscalls {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp: syscalls[%d]: %w", i, err)
		}
		if len(sc.Args) > 6 {
			return nil, fmt.Errorf("seccomp: syscalls[%d]: %d argument comparisons: a rule takes 6 at most: %w", i, len(sc.Args), errdefs.ErrInvalidArgument)
		}
		for j, a := range sc.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("seccomp: syscalls[%d].args[%d]: index %d: a system call has 6 arguments: %w", i, j, a.Index, errdefs.ErrInvalidArgument)
			}
			if _, ok := argOps[a.Op]; !ok {
				return nil, fmt.Errorf("seccomp: syscalls[%d].args[%d]: unknown operator %q: %w", i, j, a.Op, errdefs.ErrInvalidArgument)
			}
		}
		rules[i] = rule{ret: ret, args: sc.Args}
	}

	var admitted []arch
	for _, a := range all {
		if len(profile.Architectures) == 0 && a.name == all[0].name || slices.Contains(profile.Architectures, a.name) {
			admitted = append(admitted, a)
		}
	}
	// known[k] is set when an admitted architecture knows the k-th name
	// of the profile (in the order of its syscalls, then of their names).
	var names int
	for _, sc := range profile.Syscalls {
		names += len(sc.Names)
	}
	known := make([]bool, names)
	blocks := make([][]bpf.Instruction, len(admitted))
	for i, a := range admitted {
		blocks[i] = archBlock(a, profile, rules, def, known)
	}
	prog := []bpf.Instruction{bpf.LoadAbsolute{Off: offArch, Size: 4}}
	// Each architecture: a test and a jump to its block; then the verdict
	// for every other one.
	head := 1 + 2*len(admitted) + 1
	start := head
	for i, a := range admitted {
		at := len(prog) + 1 // the jump's position
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: a.audit, SkipTrue: 0, SkipFalse: 1},
			bpf.Jump{Skip: uint32(start - at - 1)})
		start += len(blocks[i])
	}
	prog = append(prog, bpf.RetConstant{Val: retKillProcess})
	for _, b := range blocks {
		prog = append(prog, b...)
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("seccomp: the profile needs %d instructions, more than the kernel's %d: %w", len(prog), maxInstructions, errdefs.ErrInvalidArgument)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	p := &Program{Filter: make([]byte, 0, 8*len(raw)), Flags: flags}
	for _, r := range raw {
		p.Filter = binary.LittleEndian.AppendUint16(p.Filter, r.Op)
		p.Filter = append(p.Filter, r.Jt, r.Jf)
		p.Filter = binary.LittleEndian.AppendUint32(p.Filter, r.K)
	}
	k := 0
	for _, sc := range profile.Syscalls {
		for _, name := range sc.Names {
			if !known[k] && !slices.Contains(p.Unknown, name) {
				p.Unknown = append(p.Unknown, name)
			}
			k++
		}
	}
	sort.Strings(p.Unknown)
	return p, nil
}

// action encodes an action with its errno (or trace message); errnoRet
// nil means EPERM, as in runc.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(errnoEPERM)
	if errnoRet != nil {
		if *errnoRet > 0xffff {
			return 0, fmt.Errorf("errnoRet %d: out of range: %w", *errnoRet, errdefs.ErrInvalidArgument)
		}
		data = uint32(*errnoRet)
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		return retErrno | data, nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActTrace:
		if errnoRet == nil {
			data = 0
		}
		return retTrace | data, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s: a seccomp agent is not supported: %w", a, errdefs.ErrNotImplemented)
	}
	return 0, fmt.Errorf("unknown action %q: %w", a, errdefs.ErrInvalidArgument)
}

// archBlock compiles the checks of one architecture; it starts with the
// load of the system call number. It marks in known the names the
// architecture's table has.
func archBlock(a arch, profile *specs.LinuxSeccomp, rules []rule, def uint32, known []bool) []bpf.Instruction {
	// Every (number, rule) pair, sorted by number, then rule: the rules
	// of one number are a run, in profile order.
	type use struct {
		nr   uint32
		rule int
	}
	var uses []use
	k := 0
	for i, sc := range profile.Syscalls {
		for _, name := range sc.Names {
			if nr, ok := a.table.lookup(name); ok {
				known[k] = true
				uses = append(uses, use{nr, i})
			}
			k++
		}
	}
	slices.SortFunc(uses, func(x, y use) int { return cmp.Or(cmp.Compare(x.nr, y.nr), cmp.Compare(x.rule, y.rule)) })
	// Calls newer than any the profile names fail with ENOSYS, unless
	// the profile allows what it does not name.
	newer := uint32(retErrno | errnoENOSYS)
	if def == retAllow || def == retLog || len(uses) == 0 {
		newer = def
	}
	var top uint32 = 0xffffffff
	if a.name == specs.ArchX86_64 {
		top = x32Bit - 1
	}
	var rs []region
	add := func(r region) {
		if n := len(rs); n > 0 && r.rules == nil && rs[n-1].rules == nil && rs[n-1].ret == r.ret && rs[n-1].hi+1 == r.lo {
			rs[n-1].hi = r.hi
			return
		}
		rs = append(rs, r)
	}
	next := uint32(0)
	for i := 0; i < len(uses); {
		nr := uses[i].nr
		j := i
		for j < len(uses) && uses[j].nr == nr {
			j++
		}
		if nr <= top {
			if nr > next {
				add(region{lo: next, hi: nr - 1, ret: def})
			}
			if first := rules[uses[i].rule]; len(first.args) == 0 {
				add(region{lo: nr, hi: nr, ret: first.ret})
			} else {
				rr := make([]rule, 0, j-i)
				for _, u := range uses[i:j] {
					rr = append(rr, rules[u.rule])
				}
				add(region{lo: nr, hi: nr, rules: rr, fallback: def})
			}
			next = nr + 1
		}
		i = j
	}
	if next <= top {
		add(region{lo: next, hi: top, ret: newer})
	}
	if top != 0xffffffff {
		add(region{lo: top + 1, hi: 0xffffffff, ret: retErrno | errnoENOSYS})
	}
	out := make([]bpf.Instruction, 0, 1+treeSize(rs))
	out = append(out, bpf.LoadAbsolute{Off: offNr, Size: 4})
	return emitTree(out, rs)
}

// treeSize is the number of instructions emitTree emits for rs.
func treeSize(rs []region) int {
	if len(rs) == 1 {
		return leafSize(rs[0])
	}
	mid := len(rs) / 2
	left := treeSize(rs[:mid])
	node := 1
	if left > 255 {
		node = 2
	}
	return node + left + treeSize(rs[mid:])
}

// emitTree appends to out a binary search over regions that cover a range
// of numbers without gaps; the accumulator holds the system call number.
func emitTree(out []bpf.Instruction, rs []region) []bpf.Instruction {
	if len(rs) == 1 {
		return leaf(out, rs[0])
	}
	mid := len(rs) / 2
	if left := treeSize(rs[:mid]); left <= 255 {
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: rs[mid].lo, SkipTrue: uint8(left)})
	} else {
		// Too far for a conditional jump: true lands on a long jump over
		// the left half.
		out = append(out,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: rs[mid].lo, SkipTrue: 0, SkipFalse: 1},
			bpf.Jump{Skip: uint32(left)})
	}
	out = emitTree(out, rs[:mid])
	return emitTree(out, rs[mid:])
}

// leafSize is the number of instructions leaf emits for r.
func leafSize(r region) int {
	n := 1
	for _, ru := range r.rules {
		if len(ru.args) == 0 {
			return n
		}
		for _, a := range ru.args {
			n += argSize[a.Op]
		}
		n++
	}
	return n
}

// leaf appends the verdict of one region to out.
func leaf(out []bpf.Instruction, r region) []bpf.Instruction {
	if r.rules == nil {
		return append(out, bpf.RetConstant{Val: r.ret})
	}
	for _, ru := range r.rules {
		if len(ru.args) == 0 {
			// Unconditional: the rules after it can never apply.
			return append(out, bpf.RetConstant{Val: ru.ret})
		}
		out = ruleBlock(out, ru)
	}
	return append(out, bpf.RetConstant{Val: r.fallback})
}

// fail marks a branch of a conditional jump that leaves the rule (to the
// next rule); ruleBlock resolves it once the rule's length is known.
const fail = 0xff

// argOps are the comparison operators, each a function emitting the check
// of one 64-bit argument (the words at lo and lo+4, little-endian) where a
// branch that does not hold is fail and one that holds falls through.
var argOps = map[specs.LinuxSeccompOperator]func(lo uint32, v, v2 uint64) []bpf.Instruction{
	specs.OpEqualTo: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jeq(hi32(v), 0, fail),
			ld(lo), jeq(uint32(v), 0, fail),
		}
	},
	specs.OpNotEqual: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jeq(hi32(v), 0, 2),
			ld(lo), jeq(uint32(v), fail, 0),
		}
	},
	specs.OpMaskedEqual: func(lo uint32, mask, want uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), and(hi32(mask)), jeq(hi32(want), 0, fail),
			ld(lo), and(uint32(mask)), jeq(uint32(want), 0, fail),
		}
	},
	specs.OpGreaterThan: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jump(bpf.JumpGreaterThan, hi32(v), 3, 0), jeq(hi32(v), 0, fail),
			ld(lo), jump(bpf.JumpGreaterThan, uint32(v), 0, fail),
		}
	},
	specs.OpGreaterEqual: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jump(bpf.JumpGreaterThan, hi32(v), 3, 0), jeq(hi32(v), 0, fail),
			ld(lo), jump(bpf.JumpGreaterOrEqual, uint32(v), 0, fail),
		}
	},
	specs.OpLessThan: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jump(bpf.JumpGreaterOrEqual, hi32(v), 0, 3), jeq(hi32(v), 0, fail),
			ld(lo), jump(bpf.JumpGreaterOrEqual, uint32(v), fail, 0),
		}
	},
	specs.OpLessEqual: func(lo uint32, v, _ uint64) []bpf.Instruction {
		return []bpf.Instruction{
			ld(lo + 4), jump(bpf.JumpGreaterOrEqual, hi32(v), 0, 3), jeq(hi32(v), 0, fail),
			ld(lo), jump(bpf.JumpGreaterThan, uint32(v), fail, 0),
		}
	},
}

// argSize is the length of each operator's check.
var argSize = map[specs.LinuxSeccompOperator]int{
	specs.OpEqualTo: 4, specs.OpNotEqual: 4, specs.OpMaskedEqual: 6,
	specs.OpGreaterThan: 5, specs.OpGreaterEqual: 5, specs.OpLessThan: 5, specs.OpLessEqual: 5,
}

// ruleBlock appends a rule with arguments to out: every comparison, then
// the rule's verdict; a comparison that does not hold skips to the
// instruction after the verdict.
func ruleBlock(out []bpf.Instruction, ru rule) []bpf.Instruction {
	start := len(out)
	for _, a := range ru.args {
		out = append(out, argOps[a.Op](offArgs+8*uint32(a.Index), a.Value, a.ValueTwo)...)
	}
	out = append(out, bpf.RetConstant{Val: ru.ret})
	for i := start; i < len(out); i++ {
		j, ok := out[i].(bpf.JumpIf)
		if !ok {
			continue
		}
		skip := uint8(len(out) - i - 1)
		if j.SkipTrue == fail {
			j.SkipTrue = skip
		}
		if j.SkipFalse == fail {
			j.SkipFalse = skip
		}
		out[i] = j
	}
	return out
}

func ld(off uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: 4} }
func and(v uint32) bpf.Instruction  { return bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: v} }
func jeq(v uint32, t, f uint8) bpf.Instruction {
	return bpf.JumpIf{Cond: bpf.JumpEqual, Val: v, SkipTrue: t, SkipFalse: f}
}
func jump(c bpf.JumpTest, v uint32, t, f uint8) bpf.Instruction {
	return bpf.JumpIf{Cond: c, Val: v, SkipTrue: t, SkipFalse: f}
}
func hi32(v uint64) uint32 { return uint32(v >> 32) }
