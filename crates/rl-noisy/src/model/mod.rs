//! Networks and the agent: [`NoisyLinear`](noisy::NoisyLinear),
//! [`QNetwork`](qnet::QNetwork) and [`Agent`](agent::Agent).

pub mod agent;
pub mod noisy;
pub mod qnet;
