#!/bin/sh
# Picks the reviewed plan artifact of a merged pull request, refusing any artifact that a fork,
# another workflow or another commit produced.
#
# Why: an artifact's name proves nothing. Any workflow run of the repository can upload an
# artifact with any name, and that includes a fork's pull_request run; taking the first
# artifact named plan-SHA ("artifact poisoning") could apply a plan that nobody reviewed. So the
# apply job asks GitHub for the artifacts and for the workflow run behind each one, and this
# script keeps only what the repository's own plan workflow made for exactly the merged head.
#
# Usage:
#   verify-plan-artifact.sh --head-sha SHA --repository OWNER/NAME --workflow PATH \
#       --artifacts ARTIFACTS.json --runs RUNS.json [--name NAME]
#
#   ARTIFACTS.json  GET /repos/OWNER/NAME/actions/artifacts?name=plan-SHA: one response, or the
#                   pages `gh api --paginate` writes one after another.
#   RUNS.json       GET /repos/OWNER/NAME/actions/runs/ID for the artifacts' runs: run objects
#                   one after another, or an array of them.
#   SHA             the merged pull request's head commit; PATH the plan workflow's file, e.g.
#                   .github/workflows/warrant.yml; NAME the artifact name (default plan-SHA).
#
# An artifact is accepted only when all of these hold: its name is NAME; it has not expired; its
# workflow_run.head_sha is SHA; its run is in RUNS.json with that id; the run's head_sha is SHA;
# the run's repository and head_repository are both OWNER/NAME (so the run was not a fork's); the
# run's path is PATH (or PATH@REF: GitHub's documented example carries the ref). Names compare
# case-insensitively, as GitHub's do. Of the accepted artifacts the newest is chosen.
#
# On success prints `artifact_id=N` and `run_id=N` (lines for $GITHUB_OUTPUT) and exits 0. Every
# refused artifact is reported on stderr with its reasons (values from the API are printed
# JSON-quoted, so they cannot forge a log line); with none accepted it exits 1. Needs jq.
set -eu

fail() {
	printf 'warrant: %s\n' "$*" >&2
	exit 1
}

head_sha='' repository='' workflow='' artifacts='' runs='' name=''
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || fail "$1 needs a value"
	case $1 in
	--head-sha) head_sha=$2 ;;
	--repository) repository=$2 ;;
	--workflow) workflow=$2 ;;
	--artifacts) artifacts=$2 ;;
	--runs) runs=$2 ;;
	--name) name=$2 ;;
	*) fail "unknown argument: $1" ;;
	esac
	shift 2
done

case $head_sha in
'') fail "--head-sha is required" ;;
*[!0-9a-f]*) fail "head SHA '$head_sha' is not a lowercase hex commit id" ;;
esac
[ ${#head_sha} -eq 40 ] || [ ${#head_sha} -eq 64 ] || fail "head SHA '$head_sha' is not a full commit id"
case $repository in
*[!A-Za-z0-9._/-]* | /* | */ | */*/*) fail "repository '$repository' is not OWNER/NAME" ;;
*/*) ;;
*) fail "repository '$repository' is not OWNER/NAME" ;;
esac
case $workflow in
.github/workflows/?*) ;;
*) fail "workflow '$workflow' is not a path under .github/workflows/" ;;
esac
[ -n "$artifacts" ] || fail "--artifacts is required"
[ -n "$runs" ] || fail "--runs is required"
[ -r "$artifacts" ] || fail "cannot read $artifacts"
[ -r "$runs" ] || fail "cannot read $runs"
[ -n "$name" ] || name=plan-$head_sha
command -v jq >/dev/null 2>&1 || fail "needs jq"

# A line "refuse<TAB>ID<TAB>RUN<TAB>REASONS" per refused artifact, then "accept<TAB>ID<TAB>RUN"
# for the newest accepted one, if any.
# shellcheck disable=SC2016 # the $names below are jq's, not the shell's
verdicts=$(jq -n -r \
	--arg sha "$head_sha" --arg repo "$repository" --arg workflow "$workflow" --arg name "$name" \
	--slurpfile pages "$artifacts" --slurpfile run_docs "$runs" '
	# A field of an object, or null for anything else: a missing or mistyped field refuses the
	# artifact instead of dropping the check.
	def get($key): if type == "object" then .[$key] else null end;
	def str: if type == "string" then . else "" end;
	def same_repo: (get("full_name") | str | ascii_downcase) == ($repo | ascii_downcase);
	def shown: tojson;

	($pages
		| if all(type == "object" and (.artifacts | type) == "array") then map(.artifacts[])
		  else error("not a list of artifacts (GET .../actions/artifacts)") end)
	as $artifacts
	| ($run_docs
		| map(if type == "array" then .[] else . end)
		| map(select(get("id") | type == "number") | {key: (.id | tostring), value: .})
		| from_entries)
	as $runs
	| [ $artifacts[]
		| . as $a
		| ($a | get("workflow_run")) as $made_by
		| ($made_by | get("id")) as $run_id
		| (if ($run_id | type) == "number" then $runs[$run_id | tostring] else null end) as $run
		| [
			(if ($a | get("id") | type) != "number" then "it has no numeric id" else empty end),
			(if ($a | get("name")) != $name
				then "its name is \($a | get("name") | shown), not \($name | shown)" else empty end),
			(if ($a | get("expired")) != false
				then "it has expired (or does not say it has not)" else empty end),
			(if ($made_by | get("head_sha")) != $sha
				then "it was made for commit \($made_by | get("head_sha") | shown), not \($sha)"
				else empty end),
			(if $run == null then "its workflow run \($run_id | shown) is not among the runs read"
			else
				(if $run.head_sha != $sha
					then "its run is for commit \($run.head_sha | shown), not \($sha)" else empty end),
				(if ($run.repository | same_repo | not)
					then "its run belongs to \($run.repository | get("full_name") | shown), not \($repo)"
					else empty end),
				(if ($run.head_repository | same_repo | not)
					then "its run came from \($run.head_repository | get("full_name") | shown), not \($repo) (a fork?)"
					else empty end),
				(if ($run.path | str) as $path
					| ($path == $workflow or ($path | startswith($workflow + "@"))) | not
					then "its run is of workflow \($run.path | shown), not \($workflow)" else empty end)
			end)
		  ] as $reasons
		| {id: ($a | get("id")), run: $run_id, reasons: $reasons,
		   created_at: ($a | get("created_at") | str)} ]
	| (.[] | select(.reasons != [])
		| ["refuse", (.id | shown), (.run | shown), (.reasons | join("; "))] | @tsv),
	  (map(select(.reasons == [])) | select(length > 0)
		# The newest: ISO 8601 times order as strings; the id breaks ties.
		| max_by([.created_at, .id]) | ["accept", (.id | tostring), (.run | tostring)] | @tsv)
') || fail "cannot read the GitHub API JSON in $artifacts and $runs"

accepted='' accepted_run=''
tab=$(printf '\t')
while IFS=$tab read -r verdict id run reasons; do
	case $verdict in
	accept) accepted=$id accepted_run=$run ;;
	refuse) printf 'warrant: refused artifact %s (run %s): %s\n' "$id" "$run" "$reasons" >&2 ;;
	esac
done <<VERDICTS
$verdicts
VERDICTS

[ -n "$accepted" ] || fail "no plan artifact $name from a run of $workflow in $repository for commit $head_sha: nothing reviewed to apply"
printf 'artifact_id=%s\nrun_id=%s\n' "$accepted" "$accepted_run"
