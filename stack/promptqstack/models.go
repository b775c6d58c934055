package promptqstack

import (
	"slices"

	"github.com/promptq/promptq/internal/catalogue"
)

// modelTarget is what one allowed model id means for IAM.
type modelTarget struct {
	// Profile is true for an inference profile; its ARN lives in the
	// stack's own account and region.
	Profile bool
	// ID is the id as configured: the profile id or the foundation model id.
	ID string
	// FoundationModel is the model a profile routes to (the id without its
	// prefix), or ID itself.
	FoundationModel string
	// Regions are where the foundation model may be invoked: the profile's
	// destination regions, []string{"*"} for a profile whose regions are not
	// configured, or nil for "the stack's region".
	Regions []string
}

// resolveModel says which resources invoking id touches. Invoking through an
// inference profile is authorized twice: on the profile, and on the
// foundation model in whichever region the profile sends the request to.
func resolveModel(id string, profileRegions map[string][]string) modelTarget {
	rest, prefix := catalogue.SplitProfile(id)
	if prefix == "" {
		return modelTarget{ID: id, FoundationModel: id}
	}
	t := modelTarget{Profile: true, ID: id, FoundationModel: rest}
	if regions := profileRegions[prefix]; len(regions) > 0 {
		t.Regions = slices.Clone(regions)
	} else {
		// Unknown destinations (and global profiles, whose foundation-model
		// ARN carries no region): still scoped to this one model.
		t.Regions = []string{"*"}
	}
	return t
}
