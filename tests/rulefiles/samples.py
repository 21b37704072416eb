"""Valid rule files the tests break one way at a time. Line numbers matter: tests assert them."""

CONTRACT = """\
schema: contract/v1
symbol: TESTUSDT
description: Test perpetual
settlement_asset: USDT
contract_size: 1
tick_size: 0.1
margin_call_threshold: 0.8
tiers:
  - floor: 0
    cap: 50000
    max_leverage: 125
    maintenance_margin_rate: 0.004
  - floor: 50000
    cap: 600000
    max_leverage: 100
    maintenance_margin_rate: 0.005
  - floor: 600000
    cap: 3000000
    max_leverage: 75
    maintenance_margin_rate: 0.0065
volatility_bands:
  - min_volatility: 0
    multiplier: 1
  - min_volatility: 1
    multiplier: 1.5
rationale: Test table.
"""

EXCHANGE = """\
schema: exchange/v1
global_multiplier: 1
default_margin_call_threshold: 0.8
groups:
  - name: majors
    multiplier: 1
    members: [TESTUSDT]
rationale: Calm markets.
"""

POLICY = """\
schema: policy/v1
roles:
  authors: analysts
  committee: risk-committee
  emergency: emergency-responders
  consumers: consumers
approvals:
  standard: 2
  loosening_beyond_step: 3
  rollback: 1
  emergency: 1
  ratification: 2
approval_expiry_hours: 168
guardrails:
  contract:
    maintenance_margin_rate: {tightening: increase, min: 0.001, max: 0.5, max_step: 0.25, step: relative, notice_hours: 24}
    max_leverage: {tightening: decrease, min: 1, max: 125, max_step: 0.25, step: relative, notice_hours: 24}
  exchange:
    global_multiplier: {tightening: increase, min: 1, max: 3, max_step: 0.25, step: absolute, notice_hours: 4}
rationale: Four eyes.
"""
