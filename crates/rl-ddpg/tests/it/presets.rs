//! The presets are the documented switches, and configs parse strictly.

use candor_rl::{NoiseConfig, UpdateSchedule};
use candor_rl_ddpg::{ActionInput, Config, Preset, RUD_N};

#[test]
fn presets_are_the_documented_switches() {
    let ddpg = Config::preset(Preset::Ddpg, "HalfCheetah-v4");
    let l = &ddpg.learner;
    assert_eq!(
        (l.actor.hidden.clone(), l.critic.hidden.clone()),
        (vec![400, 300], vec![400, 300])
    );
    assert_eq!(
        (l.actor_lr, l.critic_lr, l.critic_weight_decay),
        (1e-3, 1e-3, 0.0)
    );
    assert_eq!((l.gamma, l.tau), (0.99, 0.005));
    assert_eq!(l.action_input, ActionInput::First);
    assert!(!l.twin_critics && l.policy_delay == 1 && l.target_noise == 0.0);
    let t = &ddpg.train;
    assert_eq!((t.batch_size, t.buffer_capacity), (100, 1_000_000));
    assert_eq!(t.schedule, UpdateSchedule::Interleaved);
    assert_eq!(t.noise, NoiseConfig::Gaussian { sigma: 0.1 });
    assert_eq!((t.warmup_steps, t.learning_starts), (10_000, 10_000));
    assert_eq!((t.eval_every, t.eval_episodes), (5000, 10));
    assert_eq!(
        Config::preset(Preset::Ddpg, "Hopper-v4").train.warmup_steps,
        1000
    );

    // RUD is exactly DDPG with the block schedule.
    let rud = Config::preset(Preset::Rud, "HalfCheetah-v4");
    assert_eq!(rud.learner, ddpg.learner);
    let mut t = rud.train.clone();
    assert_eq!(
        t.schedule,
        UpdateSchedule::Regular {
            interval: RUD_N,
            updates: RUD_N
        }
    );
    t.schedule = UpdateSchedule::Interleaved;
    assert_eq!(t, ddpg.train);
    assert_eq!(RUD_N, 100);

    // RUD + CDQ adds only the twin critics.
    let cdq = Config::preset(Preset::RudCdq, "HalfCheetah-v4");
    let mut l = cdq.learner.clone();
    assert!(l.twin_critics);
    l.twin_critics = false;
    assert_eq!(l, ddpg.learner);
    assert_eq!(cdq.train, rud.train);

    // TD3: twin critics, delay 2, smoothing 0.2 clipped at 0.5, interleaved.
    let td3 = Config::preset(Preset::Td3, "HalfCheetah-v4");
    let l = &td3.learner;
    assert!(l.twin_critics);
    assert_eq!(
        (l.policy_delay, l.target_noise, l.target_noise_clip),
        (2, 0.2, 0.5)
    );
    assert_eq!(td3.train, ddpg.train);
    let t18 = Config::preset(Preset::Td3_2018, "HalfCheetah-v4");
    assert_eq!(t18.learner, td3.learner);
    assert_eq!(t18.train.schedule, UpdateSchedule::EpisodeEnd);
    assert_eq!(t18.train.learning_starts, 0);

    // Lillicrap's DDPG as sfujim's DDPG.py, with OU noise.
    let orig = Config::preset(Preset::DdpgOriginal, "HalfCheetah-v4");
    let l = &orig.learner;
    assert_eq!(l.action_input, ActionInput::Second);
    assert_eq!(
        (l.actor_lr, l.critic_lr, l.critic_weight_decay, l.tau),
        (1e-4, 1e-3, 1e-2, 0.001)
    );
    assert_eq!(orig.train.batch_size, 64);
    assert!(matches!(
        orig.train.noise,
        NoiseConfig::OrnsteinUhlenbeck { theta, sigma, .. } if theta == 0.15 && sigma == 0.2
    ));
    for p in Preset::ALL {
        Config::preset(p, "Walker2d-v4").validate().unwrap();
        assert_eq!(p.name().parse::<Preset>().unwrap(), p);
    }
    assert!("ddpg2".parse::<Preset>().is_err());
}

#[test]
fn configs_round_trip_and_reject_unknown_keys() {
    let cfg = Config::preset(Preset::Td3, "Ant-v4");
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(Config::from_json(&json).unwrap(), cfg);
    let bad = json.replacen("\"gamma\"", "\"gama\"", 1);
    assert!(Config::from_json(&bad).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["learner"]["policy_delay"] = 0.into();
    assert!(Config::from_json(&v.to_string()).is_err());
    v["learner"]["policy_delay"] = 2.into();
    v["learner"]["critic"]["hidden"] = serde_json::json!([]);
    assert!(Config::from_json(&v.to_string()).is_err());
}
