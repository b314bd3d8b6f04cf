mod engine;
mod layering;
