//! Test hook: `KHLANG_FAULT_AFTER=<step>` kills the process with SIGKILL right after that step of a
//! write (a load's `recovered`, `read`, `checked`, `wrote:<table>`, `published`; optimize's
//! `optimized:<table>`), to prove that a writer killed at any point leaves every table readable at
//! its previous published state. Only a build with the `fault-injection` feature has it (the test
//! suite's, see scripts/test); in any other build `point` does nothing and the variable is ignored.

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_step: &str) {}

#[cfg(feature = "fault-injection")]
pub fn point(step: &str) {
    if std::env::var("KHLANG_FAULT_AFTER").is_ok_and(|s| s == step) {
        tracing::error!(step, "KHLANG_FAULT_AFTER: killing this process");
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
        std::process::abort();
    }
}
