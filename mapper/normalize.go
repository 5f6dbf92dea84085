package mapper

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// folded are letters that Unicode does not decompose into a base letter and a mark, so removing marks leaves
// them as they are; they get their usual ASCII transliteration instead (Nordic, German, Icelandic, Polish, …).
var folded = map[rune]string{
	'ø': "o", 'Ø': "O", 'æ': "ae", 'Æ': "AE", 'ß': "ss", 'ẞ': "SS", 'œ': "oe", 'Œ': "OE",
	'ð': "d", 'Ð': "D", 'þ': "th", 'Þ': "TH", 'đ': "d", 'Đ': "D", 'ł': "l", 'Ł': "L",
	'ı': "i", 'ħ': "h", 'Ħ': "H", 'ŧ': "t", 'Ŧ': "T", 'ŋ': "n", 'Ŋ': "N", 'ĸ': "k",
}

// Normalize folds text to ASCII letters for names such as UPNs and account names: diacritics are removed
// (é→e, å→a, ä→a, ñ→n) and the letters above are transliterated (ø→o, æ→ae, ß→ss). Other characters are kept.
func Normalize(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if f, ok := folded[r]; ok {
			b.WriteString(f)
		} else {
			b.WriteRune(r)
		}
	}
	// A transformer chain keeps state, so it is built per call: Normalize runs concurrently.
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, b.String())
	if err != nil {
		return b.String()
	}
	return out
}
