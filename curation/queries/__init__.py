"""The read side: what pages, the API and commands show. Modules here never write; the
services that change what they count refresh the stored aggregates.

- catalog: datasets, attributes, images and their labels
- quality: a run's metrics, confusion, error galleries, comparisons
- payoff: what curation bought since the run before (reviewed, changed, F1 change) and what is left
- search: similar dresses over the dataset's current index
- triplets: the next look-alike question to ask a person
- agreement: how reviewers agree (kappa, CROWDLAB)
- health: near-duplicates across splits and disagreeing duplicates (near_duplicates: the
  banded hash search over arrays)
"""
