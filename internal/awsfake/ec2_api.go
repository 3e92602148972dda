package awsfake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Compiled on first use: the emulator is linked into every leadergate
// process (for simulate), which should not pay for it at start-up.
var (
	instanceIDRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`) })
	// indexed matches "Prefix.N" and "Prefix.N.Rest" parameter names.
	indexedRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([A-Za-z]+)\.([1-9][0-9]*)(?:\.(.+))?$`) })
)

type filter struct {
	name   string
	values []string
}

// indexed groups parameters named Prefix.N[.Rest] by N, in order of N;
// it reports the first parameter that is neither such nor in plain.
func indexed(params url.Values, plain ...string) (groups map[string]map[int]map[string]string, unknown string) {
	groups = map[string]map[int]map[string]string{}
	for k, vs := range params {
		if slices.Contains(plain, k) {
			continue
		}
		m := indexedRe().FindStringSubmatch(k)
		if m == nil {
			return nil, k
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, k
		}
		if groups[m[1]] == nil {
			groups[m[1]] = map[int]map[string]string{}
		}
		if groups[m[1]][n] == nil {
			groups[m[1]][n] = map[string]string{}
		}
		groups[m[1]][n][m[3]] = vs[0]
	}
	return groups, ""
}

// ordered returns the values of one group in order of their index.
func ordered(g map[int]map[string]string) []map[string]string {
	ns := make([]int, 0, len(g))
	for n := range g {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	out := make([]map[string]string, len(ns))
	for i, n := range ns {
		out[i] = g[n]
	}
	return out
}

func unknownParam(name string) *apiError {
	return badRequest("UnknownParameter", "The parameter %s is not recognized", name)
}

func (e *EC2) describeInstances(params url.Values, reqID string) ([]byte, *apiError) {
	groups, unknown := indexed(params, "Action", "Version", "DryRun", "MaxResults", "NextToken", "IncludeManagedResources")
	if unknown != "" {
		return nil, unknownParam(unknown)
	}
	var ids []string
	var filters []filter
	for prefix, g := range groups {
		switch prefix {
		case "InstanceId":
			for _, m := range ordered(g) {
				if _, ok := m[""]; !ok || len(m) != 1 {
					return nil, unknownParam("InstanceId.N.*")
				}
				ids = append(ids, m[""])
			}
		case "Filter":
			for _, m := range ordered(g) {
				f, aerr := parseFilter(m)
				if aerr != nil {
					return nil, aerr
				}
				filters = append(filters, f)
			}
		default:
			return nil, unknownParam(prefix + ".N")
		}
	}
	maxResults := 0
	if v := params.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return nil, badRequest("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v)
		}
		if len(ids) > 0 {
			return nil, badRequest("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		maxResults = n
	}
	for _, id := range ids {
		if !instanceIDRe().MatchString(id) {
			return nil, badRequest("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	if aerr := dryRun(params); aerr != nil {
		return nil, aerr
	}
	fhash := filterHash(ids, filters)

	e.mu.RLock()
	defer e.mu.RUnlock()
	now := e.now()
	cands, aerr := e.candidates(ids, filters, now)
	if aerr != nil {
		return nil, aerr
	}
	start := 0
	if tok := params.Get("NextToken"); tok != "" {
		after, ok := decodeToken(tok, fhash)
		if !ok {
			return nil, badRequest("InvalidPaginationToken", "The pagination token %s is invalid or does not belong to this request: start again without NextToken", tok)
		}
		i, found := slices.BinarySearchFunc(cands, after, instLess)
		if found {
			i++
		}
		start = i
	}

	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<DescribeInstancesResponse xmlns="` + ec2XMLNS + `">`)
	elem(&b, "requestId", reqID)
	b.WriteString("<reservationSet>")
	n := 0
	var last *inst
	next := ""
	for _, in := range cands[start:] {
		state, launch := in.view(now, e.lag)
		if !e.listed(in, state, now) || !matches(in, state, filters) {
			continue
		}
		if maxResults > 0 && n == maxResults {
			next = encodeToken(last, fhash)
			break
		}
		e.writeReservation(&b, in, state, launch)
		n++
		last = in
	}
	b.WriteString("</reservationSet>")
	if next != "" {
		elem(&b, "nextToken", next)
	}
	b.WriteString("</DescribeInstancesResponse>")
	return b.Bytes(), nil
}

// listed says whether DescribeInstances shows an instance: terminated ones
// drop out after an hour.
func (e *EC2) listed(in *inst, state string, now time.Time) bool {
	return state != StateTerminated || now.Before(in.terminatedAt.Add(terminatedRetention))
}

// visible says whether DescribeInstances shows an instance at now.
func (e *EC2) visible(in *inst, now time.Time) bool {
	state, _ := in.view(now, e.lag)
	return e.listed(in, state, now)
}

func parseFilter(m map[string]string) (filter, *apiError) {
	f := filter{name: m["Name"]}
	var vals []int
	for k := range m {
		switch {
		case k == "Name":
		case strings.HasPrefix(k, "Value."):
			n, err := strconv.Atoi(strings.TrimPrefix(k, "Value."))
			if err != nil || n < 1 {
				return f, unknownParam("Filter.N." + k)
			}
			vals = append(vals, n)
		default:
			return f, unknownParam("Filter.N." + k)
		}
	}
	slices.Sort(vals)
	for _, n := range vals {
		f.values = append(f.values, m["Value."+strconv.Itoa(n)])
	}
	switch {
	case f.name == "":
		return f, badRequest("InvalidParameterValue", "The filter 'null' is invalid")
	case strings.HasPrefix(f.name, "tag:") && len(f.name) > 4,
		f.name == "tag-key", f.name == "instance-id", f.name == "instance-state-name":
	default:
		return f, badRequest("InvalidParameterValue", "The filter '%s' is invalid", f.name)
	}
	if len(f.values) == 0 {
		return f, badRequest("InvalidParameterValue", "The filter '%s' has no value: give at least one", f.name)
	}
	return f, nil
}

// candidates returns, in result order, a superset of the instances the
// request can return, as small as the tag index allows.
func (e *EC2) candidates(ids []string, filters []filter, now time.Time) ([]*inst, *apiError) {
	if len(ids) > 0 {
		var out []*inst
		var missing []string
		for _, id := range ids {
			in, ok := e.byID[id]
			if !ok || !e.visible(in, now) {
				missing = append(missing, id)
				continue
			}
			out = append(out, in)
		}
		if len(missing) == 1 {
			return nil, badRequest("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
		}
		if len(missing) > 1 {
			return nil, badRequest("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
		}
		slices.SortFunc(out, instLess)
		return slices.CompactFunc(out, func(a, b *inst) bool { return a == b }), nil
	}
	best := e.all
	for _, f := range filters {
		if hasWildcard(f.values) {
			continue
		}
		var sets [][]*inst
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			for _, v := range f.values {
				sets = append(sets, e.tagIdx[f.name[4:]][v])
			}
		case f.name == "instance-id":
			var s []*inst
			for _, id := range f.values {
				if in, ok := e.byID[id]; ok {
					s = append(s, in)
				}
			}
			slices.SortFunc(s, instLess)
			sets = append(sets, s)
		default:
			continue
		}
		if u := union(sets); len(u) < len(best) {
			best = u
		}
	}
	return best, nil
}

// union merges sorted sets; one set is returned as it is.
func union(sets [][]*inst) []*inst {
	if len(sets) == 1 {
		return sets[0]
	}
	var out []*inst
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.SortFunc(out, instLess)
	return slices.CompactFunc(out, func(a, b *inst) bool { return a == b })
}

func hasWildcard(values []string) bool {
	for _, v := range values {
		if strings.ContainsAny(v, `*?\`) {
			return true
		}
	}
	return false
}

func matches(in *inst, state string, filters []filter) bool {
	for _, f := range filters {
		ok := false
		switch {
		case f.name == "instance-id":
			ok = anyMatch(f.values, in.ID)
		case f.name == "instance-state-name":
			ok = anyMatch(f.values, state)
		case f.name == "tag-key":
			for k := range in.Tags {
				if anyMatch(f.values, k) {
					ok = true
					break
				}
			}
		case strings.HasPrefix(f.name, "tag:"):
			v, has := in.Tags[f.name[4:]]
			ok = has && anyMatch(f.values, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches EC2 filter wildcards: * any run, ? one character, \ escapes.
func glob(p, s string) bool {
	if !strings.ContainsAny(p, `*?\`) {
		return p == s
	}
	pr, sr := []rune(p), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(pr) {
			switch pr[i] {
			case '*':
				for k := j; k <= len(sr); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '?':
				if j >= len(sr) {
					return false
				}
			case '\\':
				if i+1 < len(pr) {
					i++
				}
				fallthrough
			default:
				if j >= len(sr) || sr[j] != pr[i] {
					return false
				}
			}
			i++
			j++
		}
		return j == len(sr)
	}
	return match(0, 0)
}

func filterHash(ids []string, filters []filter) uint64 {
	h := fnv.New64a()
	ids = slices.Sorted(slices.Values(ids))
	fmt.Fprintf(h, "%q", ids)
	fs := slices.Clone(filters)
	for i := range fs {
		fs[i].values = slices.Sorted(slices.Values(fs[i].values))
	}
	// Not slices.SortFunc: a generic sort of a struct type costs the
	// simulator's binary a copy of the sort (about 12 KB).
	sort.Slice(fs, func(i, j int) bool { return fmt.Sprint(fs[i]) < fmt.Sprint(fs[j]) })
	fmt.Fprintf(h, "%q", fs)
	return h.Sum64()
}

// Tokens name the last instance returned and the request they belong to.
func encodeToken(last *inst, fhash uint64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%016x|%s|%016x", last.order, last.ID, fhash))
}

func decodeToken(tok string, fhash uint64) (*inst, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return nil, false
	}
	order, err1 := strconv.ParseUint(parts[0], 16, 64)
	h, err2 := strconv.ParseUint(parts[2], 16, 64)
	if err1 != nil || err2 != nil || h != fhash {
		return nil, false
	}
	return &inst{Instance: Instance{ID: parts[1]}, order: order}, true
}

func dryRun(params url.Values) *apiError {
	switch v := params.Get("DryRun"); v {
	case "", "false":
		return nil
	case "true":
		return errorf(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	default:
		return badRequest("InvalidParameterValue", "Value (%s) for parameter DryRun is invalid: use true or false", v)
	}
}

func (e *EC2) writeReservation(b *bytes.Buffer, in *inst, state string, launch time.Time) {
	b.WriteString("<item>")
	elem(b, "reservationId", in.ReservationID)
	elem(b, "ownerId", e.opts.accountID)
	b.WriteString("<groupSet/><instancesSet><item>")
	elem(b, "instanceId", in.ID)
	elem(b, "imageId", in.ImageID)
	b.WriteString("<instanceState>")
	elem(b, "code", strconv.Itoa(stateCodes[state]))
	elem(b, "name", state)
	b.WriteString("</instanceState>")
	if state == StateTerminated {
		b.WriteString("<privateDnsName/>")
	} else {
		elem(b, "privateDnsName", in.privateDNSName)
	}
	b.WriteString("<dnsName/>")
	switch state {
	case StateRunning:
		b.WriteString("<reason/>")
	default:
		elem(b, "reason", "User initiated ("+in.changedAt.Format("2006-01-02 15:04:05 MST")+")")
	}
	b.WriteString("<amiLaunchIndex>0</amiLaunchIndex><productCodes/>")
	elem(b, "instanceType", in.InstanceType)
	elem(b, "launchTime", launch.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteString("<placement>")
	elem(b, "availabilityZone", in.AvailabilityZone)
	b.WriteString("<groupName/><tenancy>default</tenancy></placement>")
	b.WriteString("<monitoring><state>disabled</state></monitoring>")
	if state != StateTerminated {
		elem(b, "subnetId", "subnet-0a1b2c3d4e5f60718")
		elem(b, "vpcId", "vpc-0123456789abcdef0")
		elem(b, "privateIpAddress", in.PrivateIP)
	}
	b.WriteString("<sourceDestCheck>true</sourceDestCheck><groupSet/>")
	if state != StateRunning {
		b.WriteString("<stateReason><code>Client.UserInitiatedShutdown</code><message>Client.UserInitiatedShutdown: User initiated shutdown</message></stateReason>")
	}
	b.WriteString("<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping/><virtualizationType>hvm</virtualizationType>")
	if len(in.Tags) > 0 {
		b.WriteString("<tagSet>")
		keys := make([]string, 0, len(in.Tags))
		for k := range in.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString("<item>")
			elem(b, "key", k)
			elem(b, "value", in.Tags[k])
			b.WriteString("</item>")
		}
		b.WriteString("</tagSet>")
	}
	b.WriteString("<hypervisor>xen</hypervisor><ebsOptimized>true</ebsOptimized><enaSupport>true</enaSupport>")
	b.WriteString("<metadataOptions><state>applied</state><httpTokens>required</httpTokens><httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint></metadataOptions>")
	b.WriteString("</item></instancesSet></item>")
}

func (e *EC2) createTags(params url.Values, reqID string) ([]byte, *apiError) {
	ids, tags, aerr := tagRequest(params)
	if aerr != nil {
		return nil, aerr
	}
	for _, t := range tags {
		if !t.hasKey {
			return nil, badRequest("InvalidParameterValue", "Tag.N.Key is missing: every tag needs a key")
		}
	}
	if len(ids) == 0 {
		return nil, badRequest("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	if len(tags) == 0 {
		return nil, badRequest("MissingParameter", "The request must contain the parameter tagSet")
	}
	for _, t := range tags {
		switch {
		case t.key == "" || len(t.key) > 128:
			return nil, badRequest("InvalidParameterValue", "Tag key %q must be 1 to 128 characters long", t.key)
		case strings.HasPrefix(strings.ToLower(t.key), "aws:"):
			return nil, badRequest("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		case len(t.value) > 256:
			return nil, badRequest("InvalidParameterValue", "Tag value for key %q must be at most 256 characters long", t.key)
		}
	}
	targets, aerr := e.tagTargets(params, ids, func(in *inst) *apiError {
		n := len(in.Tags)
		for _, t := range tags {
			if _, has := in.Tags[t.key]; !has {
				n++
			}
		}
		if n > 50 {
			return badRequest("TagLimitExceeded", "The maximum number of tags (50) for resource %s has been reached", in.ID)
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	defer e.mu.Unlock()
	for _, in := range targets {
		for _, t := range tags {
			e.setTagLocked(in, t.key, t.value)
		}
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<CreateTagsResponse xmlns="` + ec2XMLNS + `">`)
	elem(&b, "requestId", reqID)
	b.WriteString("<return>true</return></CreateTagsResponse>")
	return b.Bytes(), nil
}

// deleteTags removes tags as EC2 does: a Tag.N.Key alone removes the key
// whatever its value; with a Tag.N.Value, only when the value matches. An
// absent key is not an error.
func (e *EC2) deleteTags(params url.Values, reqID string) ([]byte, *apiError) {
	ids, tags, aerr := tagRequest(params)
	if aerr != nil {
		return nil, aerr
	}
	for _, t := range tags {
		if !t.hasKey || t.key == "" {
			return nil, badRequest("InvalidParameterValue", "Tag.N.Key is missing")
		}
		if strings.HasPrefix(strings.ToLower(t.key), "aws:") {
			return nil, badRequest("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	if len(ids) == 0 {
		return nil, badRequest("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	targets, aerr := e.tagTargets(params, ids, nil)
	if aerr != nil {
		return nil, aerr
	}
	defer e.mu.Unlock()
	for _, in := range targets {
		for _, t := range tags {
			if old, has := in.Tags[t.key]; has && (!t.hasValue || old == t.value) {
				e.deleteTagLocked(in, t.key)
			}
		}
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<DeleteTagsResponse xmlns="` + ec2XMLNS + `">`)
	elem(&b, "requestId", reqID)
	b.WriteString("<return>true</return></DeleteTagsResponse>")
	return b.Bytes(), nil
}

// tagParam is one Tag.N of a CreateTags or DeleteTags request.
type tagParam struct {
	key, value       string
	hasKey, hasValue bool
}

// tagRequest reads the ResourceId.N and Tag.N parameters that CreateTags
// and DeleteTags share, refusing any other; each action then checks what
// it requires of them.
func tagRequest(params url.Values) (ids []string, tags []tagParam, aerr *apiError) {
	groups, unknown := indexed(params, "Action", "Version", "DryRun")
	if unknown != "" {
		return nil, nil, unknownParam(unknown)
	}
	for prefix, g := range groups {
		switch prefix {
		case "ResourceId":
			for _, m := range ordered(g) {
				if _, ok := m[""]; !ok || len(m) != 1 {
					return nil, nil, unknownParam("ResourceId.N.*")
				}
				ids = append(ids, m[""])
			}
		case "Tag":
			for _, m := range ordered(g) {
				for k := range m {
					if k != "Key" && k != "Value" {
						return nil, nil, unknownParam("Tag.N." + k)
					}
				}
				key, hasKey := m["Key"]
				value, hasValue := m["Value"]
				tags = append(tags, tagParam{key, value, hasKey, hasValue})
			}
		default:
			return nil, nil, unknownParam(prefix + ".N")
		}
	}
	return ids, tags, nil
}

// tagTargets checks the ids of a tag request, then DryRun, and returns
// their instances with e.mu held (the caller unlocks), each having passed
// check when it is given; on an error e.mu is not held.
func (e *EC2) tagTargets(params url.Values, ids []string, check func(*inst) *apiError) ([]*inst, *apiError) {
	for _, id := range ids {
		if !instanceIDRe().MatchString(id) {
			return nil, badRequest("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	if aerr := dryRun(params); aerr != nil {
		return nil, aerr
	}
	e.mu.Lock()
	now := e.now()
	targets := make([]*inst, 0, len(ids))
	for _, id := range ids {
		in, ok := e.byID[id]
		if !ok || !e.visible(in, now) {
			e.mu.Unlock()
			return nil, badRequest("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		if check != nil {
			if aerr := check(in); aerr != nil {
				e.mu.Unlock()
				return nil, aerr
			}
		}
		targets = append(targets, in)
	}
	return targets, nil
}
