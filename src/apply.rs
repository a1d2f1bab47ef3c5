//! The applier: executes exactly the changes of a reviewed plan, append-only, re-reading
//! each object before writing and verifying after.
