//! Mutation fuzzing of every parser of bytes from outside: the Mesos wire answers (the streaming
//! GET_AGENTS scan differentially against its serde reference), the AWS answers, and what this
//! tool reads from disk. `MM_FUZZ_CASES` sets the cases per target (CI: the default, a few
//! hundred); `tests/fuzz.sh` runs long campaigns. Inputs run and findings: docs/reliability.md.

mod cloud;
mod mutate;
mod regressions;
mod state;
mod wire;
