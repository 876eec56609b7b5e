//! The redis account snapshot (written with the clone-fidelity catalogue).
