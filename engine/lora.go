package engine

import "slices"

// adapterNames lists the names of the LoRA adapters of ss, each once, sorted (nil when
// none has one).
func adapterNames(ss []*seq) []string {
	var names []string
	for _, s := range ss {
		if a := s.req.Adapter; a != nil && !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	return names
}
