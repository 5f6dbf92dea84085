package hr

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/collector"
)

// integrity is what a collection learns about its own completeness: the count the server announced and the
// records it had to skip. A full collection that did not read the whole source makes no leavers.
type integrity struct {
	announced int // -1: the server announced no count
	// skip and top are the query's $skip and $top (-1 when absent): the count ignores them.
	skip, top int
	badIDs    int
	firstBad  string
}

// withCount asks for the total count where the API has one: OData v2 `$inlinecount=allpages` (d.__count),
// OData v4 `$count=true` (@odata.count). A query that asks already is left alone; a plain JSON API has no count.
func withCount(q, resultPath string) string {
	path, rawQuery, _ := strings.Cut(q, "?")
	params, err := url.ParseQuery(rawQuery)
	if err == nil && (params.Has("$inlinecount") || params.Has("$count")) {
		return q
	}
	var add string
	switch strings.TrimSpace(resultPath) {
	case "d.results":
		add = "$inlinecount=allpages"
	case "value":
		add = "$count=true"
	default:
		return q
	}
	if rawQuery == "" {
		return path + "?" + add
	}
	return q + "&" + add
}

// announcedCount reads the total count of a first page: d.__count (OData v2, a string), @odata.count (v4) or
// odata.count (v3 JSON light); -1 when absent or unreadable.
func announcedCount(doc any) int {
	obj, ok := doc.(map[string]any)
	if !ok {
		return -1
	}
	var v any
	if d, ok := obj["d"].(map[string]any); ok {
		v = d["__count"]
	}
	for _, k := range []string{"@odata.count", "odata.count"} {
		if v == nil {
			v = obj[k]
		}
	}
	switch n := v.(type) {
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil && i >= 0 {
			return i
		}
	case float64:
		if n >= 0 && n == float64(int(n)) {
			return int(n)
		}
	}
	return -1
}

// badID logs a record whose id (the userName mapping's source path) is missing or not a string or number, and
// counts it: such a record may be any person, so the collection makes no leavers.
func (s *Source) badID(t *integrity, obj map[string]any, page, index, position int) {
	var cur any = obj
	path := strings.Join(s.idPath, ".")
	for _, step := range s.idPath {
		m, ok := cur.(map[string]any)
		if !ok {
			cur = nil
			break
		}
		cur = m[step]
	}
	what := "missing"
	if cur != nil {
		what = kind(cur)
	} else if m, ok := obj[s.idPath[0]]; ok && m == nil {
		what = "null"
	}
	t.badIDs++
	if t.firstBad == "" {
		t.firstBad = fmt.Sprintf("record %d (page %d, element [%d]): %s is %s", position, page, index, path, what)
	}
	s.log.Error("record skipped: its id is not a string or number; nobody is treated as a leaver in this collection (fix the record in the HR system)",
		"record", position, "page", page, "element", index, "id_path", path, "id", what)
}

// windowOf reads $skip and $top of a query: an OData count counts the whole collection, not the window.
func windowOf(q string) (skip, top int) {
	skip, top = -1, -1
	_, rawQuery, _ := strings.Cut(q, "?")
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return
	}
	if n, err := strconv.Atoi(params.Get("$skip")); err == nil && n >= 0 {
		skip = n
	}
	if n, err := strconv.Atoi(params.Get("$top")); err == nil && n >= 0 {
		top = n
	}
	return
}

// pageFailed is the end of a collection whose page failed after its retries. When earlier pages were read, the
// collection is incomplete: the pipeline publishes what they held and makes no leaver. A first page that fails
// (nothing read) and a cancelled collection stay errors.
func (s *Source) pageFailed(ctx context.Context, pages, count int, t integrity, err error) (bool, error) {
	if pages == 0 || ctx.Err() != nil {
		return false, err
	}
	return true, collector.Incomplete(fmt.Sprintf("page %d failed", pages+1), count, t.announced, err)
}

// check is the verdict on a finished read of count records in pages pages.
func (t *integrity) check(count, pages int) error {
	want := t.announced
	if want >= 0 && t.skip > 0 {
		want = max(want-t.skip, 0)
	}
	if want >= 0 && t.top >= 0 {
		want = min(want, t.top)
	}
	if want >= 0 && want != count {
		reason := fmt.Sprintf("the server announced %d records and %d were read in %d pages (paging cut short or a count that disagrees)", want, count, pages)
		return collector.Incomplete(reason, count, want, nil)
	}
	if t.badIDs > 0 {
		return collector.Incomplete(fmt.Sprintf("%d records without a usable id were skipped, the first: %s", t.badIDs, t.firstBad), count, t.announced, nil)
	}
	return nil
}
