//! The postgres account snapshot (written with the clone-fidelity catalogue).
