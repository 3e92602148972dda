package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The expected times below are written out by hand from cronie's cron(8):
// "If time was adjusted one hour forward, those jobs that would have run
// in the interval that has been skipped will be run immediately.
// Conversely, if time was adjusted backward, running the same job twice is
// avoided. ... jobs that run more frequently than once an hour [wildcard
// minute or hour fields] are not affected: they run by elapsed time."
//
// The changes of 2025 used:
//
//	America/New_York     9 Mar 02:00 EST -> 03:00 EDT;  2 Nov 02:00 EDT -> 01:00 EST
//	Europe/Berlin       30 Mar 02:00 CET -> 03:00 CEST; 26 Oct 03:00 CEST -> 02:00 CET
//	Australia/Lord_Howe  5 Oct 02:00 -> 02:30 (+10:30 -> +11); 6 Apr 02:00 -> 01:30
//	America/Santiago     7 Sep 00:00 -> 01:00 (-04 -> -03, midnight skipped);
//	                     6 Apr 00:00 -> 5 Apr 23:00 (-03 -> -04)
func TestNextAcrossDaylightSavingTime(t *testing.T) {
	tests := []struct {
		name, zone, spec, from string // from: a wall time in zone, RFC 3339
		want                   []string
	}{
		// America/New_York, spring forward.
		{"New York: a fixed time in the skipped hour runs right after the change", "America/New_York", "30 2 * * *", "2025-03-08T12:00:00-05:00",
			[]string{"2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"}},
		{"New York: two fixed times in the skipped hour run once, right after the change", "America/New_York", "0,30 2 * * *", "2025-03-08T12:00:00-05:00",
			[]string{"2025-03-09T03:00:00-04:00", "2025-03-10T02:00:00-04:00"}},
		{"New York: a weekly job in the skipped hour runs that Sunday, not a week later", "America/New_York", "0 2 * * 0", "2025-03-08T12:00:00-05:00",
			[]string{"2025-03-09T03:00:00-04:00", "2025-03-16T02:00:00-04:00"}},
		{"New York: an hourly job runs an hour apart across spring forward", "America/New_York", "0 * * * *", "2025-03-09T00:30:00-05:00",
			[]string{"2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T04:00:00-04:00"}},
		{"New York: */30 runs 30 minutes apart across spring forward", "America/New_York", "*/30 * * * *", "2025-03-09T01:15:00-05:00",
			[]string{"2025-03-09T01:30:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T03:30:00-04:00"}},
		// America/New_York, fall back.
		{"New York: a fixed time in the repeated hour runs in the first pass only", "America/New_York", "30 1 * * *", "2025-11-01T12:00:00-04:00",
			[]string{"2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"}},
		{"New York: 0,30 1 * * * runs twice on the fall-back day, not four times", "America/New_York", "0,30 1 * * *", "2025-11-02T00:00:00-04:00",
			[]string{"2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00", "2025-11-03T01:00:00-05:00"}},
		{"New York: started at 01:45 EDT, a 01:30 job waits for the next day", "America/New_York", "30 1 * * *", "2025-11-02T01:45:00-04:00",
			[]string{"2025-11-03T01:30:00-05:00"}},
		{"New York: started in the second pass, a 01:30 job waits for the next day", "America/New_York", "30 1 * * *", "2025-11-02T01:10:00-05:00",
			[]string{"2025-11-03T01:30:00-05:00"}},
		{"New York: an hourly job runs every hour across fall back", "America/New_York", "0 * * * *", "2025-11-02T00:30:00-04:00",
			[]string{"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"}},
		{"New York: */30 runs every 30 minutes across fall back, never one instant twice", "America/New_York", "*/30 * * * *", "2025-11-02T01:15:00-04:00",
			[]string{"2025-11-02T01:30:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T01:30:00-05:00", "2025-11-02T02:00:00-05:00"}},
		{"New York: @every 1h counts elapsed time (from the Unix epoch) across fall back", "America/New_York", "@every 1h", "2025-11-02T00:30:00-04:00",
			[]string{"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00", "2025-11-02T02:00:00-05:00"}},
		{"New York: @every 1h counts elapsed time (from the Unix epoch) across spring forward", "America/New_York", "@every 1h", "2025-03-09T00:30:00-05:00",
			[]string{"2025-03-09T01:00:00-05:00", "2025-03-09T03:00:00-04:00"}},

		// Europe/Berlin.
		{"Berlin: a fixed time in the skipped hour runs right after the change", "Europe/Berlin", "30 2 * * *", "2025-03-29T12:00:00+01:00",
			[]string{"2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"}},
		{"Berlin: an hourly job runs an hour apart across spring forward", "Europe/Berlin", "0 * * * *", "2025-03-30T00:30:00+01:00",
			[]string{"2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00"}},
		{"Berlin: a fixed time in the repeated hour runs once", "Europe/Berlin", "30 2 * * *", "2025-10-25T12:00:00+02:00",
			[]string{"2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"}},
		{"Berlin: @hourly runs in both passes of the repeated hour", "Europe/Berlin", "@hourly", "2025-10-26T01:30:00+02:00",
			[]string{"2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00"}},
		{"Berlin: a seconds job goes on through the repeated hour", "Europe/Berlin", "*/15 * * * * *", "2025-10-26T02:59:50+02:00",
			[]string{"2025-10-26T02:00:00+01:00", "2025-10-26T02:00:15+01:00"}},
		{"Berlin: a weekly job in the skipped hour runs that Sunday", "Europe/Berlin", "15 2 * * sun", "2025-03-29T12:00:00+01:00",
			[]string{"2025-03-30T03:00:00+02:00", "2025-04-06T02:15:00+02:00"}},

		// Australia/Lord_Howe: 30-minute changes.
		{"Lord Howe: 01:45 stays 01:45 on the spring-forward day", "Australia/Lord_Howe", "45 1 * * *", "2025-10-04T12:00:00+10:30",
			[]string{"2025-10-05T01:45:00+10:30", "2025-10-06T01:45:00+11:00"}},
		{"Lord Howe: a time in the skipped half hour runs at 02:30", "Australia/Lord_Howe", "15 2 * * *", "2025-10-04T12:00:00+10:30",
			[]string{"2025-10-05T02:30:00+11:00", "2025-10-06T02:15:00+11:00"}},
		{"Lord Howe: 03:00 is not lost after the change", "Australia/Lord_Howe", "0 3 * * *", "2025-10-04T12:00:00+10:30",
			[]string{"2025-10-05T03:00:00+11:00", "2025-10-06T03:00:00+11:00"}},
		{"Lord Howe: @daily loses no day", "Australia/Lord_Howe", "@daily", "2025-10-04T12:00:00+10:30",
			[]string{"2025-10-05T00:00:00+10:30", "2025-10-06T00:00:00+11:00", "2025-10-07T00:00:00+11:00"}},
		{"Lord Howe: */30 runs 30 minutes apart across spring forward", "Australia/Lord_Howe", "*/30 * * * *", "2025-10-05T01:15:00+10:30",
			[]string{"2025-10-05T01:30:00+10:30", "2025-10-05T02:30:00+11:00", "2025-10-05T03:00:00+11:00"}},
		{"Lord Howe: a fixed time in the repeated half hour runs once", "Australia/Lord_Howe", "45 1 * * *", "2025-04-05T12:00:00+11:00",
			[]string{"2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30"}},
		{"Lord Howe: */30 runs every 30 minutes across fall back", "Australia/Lord_Howe", "*/30 * * * *", "2025-04-06T01:15:00+11:00",
			[]string{"2025-04-06T01:30:00+11:00", "2025-04-06T01:30:00+10:30", "2025-04-06T02:00:00+10:30"}},

		// America/Santiago: the change is at midnight.
		{"Santiago: @daily runs at 01:00 when midnight is skipped", "America/Santiago", "@daily", "2025-09-06T12:00:00-04:00",
			[]string{"2025-09-07T01:00:00-03:00", "2025-09-08T00:00:00-03:00"}},
		{"Santiago: 00:30 runs at 01:00 when midnight is skipped", "America/Santiago", "30 0 * * *", "2025-09-06T12:00:00-04:00",
			[]string{"2025-09-07T01:00:00-03:00", "2025-09-08T00:30:00-03:00"}},
		{"Santiago: an hourly job runs an hour apart across the skipped midnight", "America/Santiago", "0 * * * *", "2025-09-06T22:30:00-04:00",
			[]string{"2025-09-06T23:00:00-04:00", "2025-09-07T01:00:00-03:00", "2025-09-07T02:00:00-03:00"}},
		{"Santiago: 23:30 on the repeated Saturday hour runs once", "America/Santiago", "30 23 * * *", "2025-04-05T12:00:00-03:00",
			[]string{"2025-04-05T23:30:00-03:00", "2025-04-06T23:30:00-04:00"}},
		{"Santiago: @daily after the repeated hour runs once", "America/Santiago", "@daily", "2025-04-05T12:00:00-03:00",
			[]string{"2025-04-06T00:00:00-04:00", "2025-04-07T00:00:00-04:00"}},
		{"Santiago: an hourly job runs every hour across fall back", "America/Santiago", "0 * * * *", "2025-04-05T22:30:00-03:00",
			[]string{"2025-04-05T23:00:00-03:00", "2025-04-05T23:00:00-04:00", "2025-04-06T00:00:00-04:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader("CRON_TZ="+tt.zone+"\n"+tt.spec+" x\n"), "x.cron")
			if err != nil {
				t.Fatal(err)
			}
			j := c.Jobs[0]
			from, err := time.Parse(time.RFC3339, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for n, i := from, 0; i < len(tt.want); i++ {
				n = j.Next(n)
				got = append(got, n.In(j.TZ).Format(time.RFC3339))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("from %s:\n got  %v\n want %v", tt.from, got, tt.want)
			}
		})
	}
}

func bitsOf(vals ...int) uint64 {
	var b uint64
	for _, v := range vals {
		b |= 1 << uint(v)
	}
	return b
}

func TestFieldsAsCronReadsThem(t *testing.T) {
	tests := []struct {
		name, field, kind string
		want              uint64
	}{
		{"7 is Sunday", "7", "day-of-week", bitsOf(0)},
		{"0-7 is every day", "0-7", "day-of-week", bitsOf(0, 1, 2, 3, 4, 5, 6)},
		{"5-7 is Friday to Sunday", "5-7", "day-of-week", bitsOf(5, 6, 0)},
		{"MON-SUN is every day", "MON-SUN", "day-of-week", bitsOf(0, 1, 2, 3, 4, 5, 6)},
		{"FRI-SUN is Friday to Sunday", "FRI-SUN", "day-of-week", bitsOf(5, 6, 0)},
		{"names in any case", "Mon,wED,FRI", "day-of-week", bitsOf(1, 3, 5)},
		{"sun at the start is 0", "sun-tue", "day-of-week", bitsOf(0, 1, 2)},
		{"a stepped range reaching 7", "1-7/2", "day-of-week", bitsOf(1, 3, 5, 0)},
		{"month names in any case", "JAN-Mar,oct", "month", bitsOf(1, 2, 3, 10)},
		{"a range with a step", "1-10/3", "minute", bitsOf(1, 4, 7, 10)},
		{"a step that does not divide 60", "*/7", "minute", bitsOf(0, 7, 14, 21, 28, 35, 42, 49, 56)},
		{"a list mixing values, ranges and steps", "1,10-20/5,*/30", "minute", bitsOf(0, 1, 10, 15, 20, 30)},
		{"* in the day-of-week field is 0-6", "*", "day-of-week", bitsOf(0, 1, 2, 3, 4, 5, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := parseField(tt.field, fieldBounds[tt.kind])
			if msg != "" || got != tt.want {
				t.Errorf("%s field %q: bits %b (%q), want %b", tt.kind, tt.field, got, msg, tt.want)
			}
		})
	}
}

func TestDayFieldsFollowCronsRule(t *testing.T) {
	tests := []struct {
		name, spec, from string
		want             []string
	}{
		{"both day fields restricted: either matches (the 13th or a Friday)", "0 0 13 * 5", "2025-06-01T12:00:00Z",
			[]string{"2025-06-06T00:00:00Z", "2025-06-13T00:00:00Z", "2025-06-20T00:00:00Z"}},
		{"a day field starting with * is unrestricted, so both must match (odd days that are Mondays)", "0 0 */2 * 1", "2025-06-01T12:00:00Z",
			[]string{"2025-06-09T00:00:00Z", "2025-06-23T00:00:00Z", "2025-07-07T00:00:00Z"}},
		{"day-of-month restricted, day-of-week *: day-of-month only", "0 0 1 * *", "2025-06-01T12:00:00Z",
			[]string{"2025-07-01T00:00:00Z", "2025-08-01T00:00:00Z"}},
		{"@annually is @yearly", "@annually", "2025-06-01T12:00:00Z",
			[]string{"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"@midnight is @daily", "@midnight", "2025-06-01T12:00:00Z",
			[]string{"2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z"}},
		{"Sunday as 7 in a weekly job", "30 4 * * 7", "2025-06-01T12:00:00Z",
			[]string{"2025-06-08T04:30:00Z", "2025-06-15T04:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader("CRON_TZ=UTC\n"+tt.spec+" x\n"), "x.cron")
			if err != nil {
				t.Fatal(err)
			}
			from, _ := time.Parse(time.RFC3339, tt.from)
			var got []string
			for n, i := from, 0; i < len(tt.want); i++ {
				n = c.Jobs[0].Next(n)
				got = append(got, n.UTC().Format(time.RFC3339))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// @every ticks are multiples of the interval since the Unix epoch, so
// schedulers started at different times derive the same ticks (the ledger
// keys them): they counted from each scheduler's start.
func TestEveryTicksAreTheSameWhenEverSchedulersStart(t *testing.T) {
	c, err := Parse(strings.NewReader("@every 90s ./bin/x\n@every 5m ./bin/y\n"), "f.cron")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // 1772366400, a multiple of 90 and of 300
	tests := []struct {
		job   int
		after time.Time
		want  time.Time
	}{
		{0, day.Add(7 * time.Second), day.Add(90 * time.Second)},
		{0, day.Add(31*time.Second + 500*time.Millisecond), day.Add(90 * time.Second)},
		{0, day.Add(90 * time.Second), day.Add(180 * time.Second)},
		{0, day.Add(-time.Nanosecond), day},
		{1, day.Add(3*time.Minute + 10*time.Second), day.Add(5 * time.Minute)},
		{1, day.Add(5 * time.Minute), day.Add(10 * time.Minute)},
		{1, time.Date(2026, 3, 1, 13, 2, 0, 0, time.FixedZone("X", 3600)), day.Add(5 * time.Minute)},
	}
	for _, tt := range tests {
		if got := c.Jobs[tt.job].Next(tt.after); !got.Equal(tt.want) {
			t.Errorf("%s: Next(%s) = %s, want %s", c.Jobs[tt.job].Spec, tt.after, got, tt.want)
		}
	}
}
