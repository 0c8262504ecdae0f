//! Bad configurations are errors.

use candor_rl_noisy::{train, Agent, Algo, Config};

#[test]
fn unknown_keys_are_rejected() {
    assert!(Config::from_json(r#"{"algo": "dqn", "learning_rate": 0.1}"#).is_err());
    assert!(Config::from_json(r#"{"nrowan": {"k_finale": 2.0}}"#).is_err());
    assert!(Config::from_json(r#"{"optimizer": {"kind": "adam", "momentum": 0.9}}"#).is_err());
    assert!(serde_json::from_str::<Config>(r#"{"gama": 0.9}"#).is_err());
    assert!(Config::from_json(r#"{"optimizer": {"kind": "lbfgs"}}"#).is_err());
    assert!(Config::from_json(r#"{"total_steps": "many"}"#).is_err());
    let ok = Config::from_json(r#"{"algo": "noisy-net", "optimizer": {"kind": "adam"}}"#).unwrap();
    assert_eq!(ok.algo, Algo::NoisyNet);
}

#[test]
fn reward_bounds_must_be_ordered() {
    let err = Config::from_json(r#"{"nrowan": {"r_inf": 10, "r_sup": 10}}"#).unwrap_err();
    assert!(err.to_string().contains("r_inf"), "{err}");
    assert!(Config::from_json(r#"{"nrowan": {"r_inf": 10, "r_sup": -5}}"#).is_err());
    let mut c = Config::tiny(Algo::Nrowan);
    c.nrowan.r_sup = c.nrowan.r_inf;
    assert!(c.validate().is_err());
    assert!(Agent::new(&c, 4, 2, 0, &candle_core::Device::Cpu).is_err());
    assert!(train(&c, 0, &candle_core::Device::Cpu).is_err());
}

#[test]
fn other_bad_values_are_rejected() {
    let bad = [
        r#"{"gamma": 1.5}"#,
        r#"{"batch_size": 0}"#,
        r#"{"optimizer": {"lr": -1e-3}}"#,
        r#"{"epsilon": {"eval": 2}}"#,
        r#"{"net": {"sigma0": -0.1}}"#,
        r#"{"nrowan": {"k_final": -1}}"#,
        r#"{"env_id": "Breakout-v5"}"#,
    ];
    for b in bad {
        assert!(Config::from_json(b).is_err(), "{b} was accepted");
    }
    // A continuous-action env is valid config-wise but not for DQN.
    let mut c = Config::tiny(Algo::Dqn);
    c.env_id = "Pendulum-v1".into();
    assert!(train(&c, 0, &candle_core::Device::Cpu).is_err());
    assert!(Agent::new(&Config::tiny(Algo::Dqn), 0, 2, 0, &candle_core::Device::Cpu).is_err());
}
