//! What differs between boards: start-up, the defmt transport, the exit and the cost
//! counter.

#[cfg(feature = "nrf52840")]
mod nrf52840;
#[cfg(feature = "rp2040")]
mod rp2040;
#[cfg(feature = "rp2350")]
mod rp2350;

#[cfg(any(feature = "nrf52840", feature = "rp2040", feature = "rp2350"))]
use defmt_rtt as _;
#[cfg(any(feature = "qemu", feature = "mps2-an500", feature = "mps2-an505"))]
use defmt_semihosting as _;

/// First word of the log; `runner.sh` also finds it in the ELF to pick QEMU or probe-rs.
#[cfg(feature = "qemu")]
pub const TAG: &str = "tinymlp-board=mps2-an386";
#[cfg(feature = "mps2-an500")]
pub const TAG: &str = "tinymlp-board=mps2-an500";
#[cfg(feature = "mps2-an505")]
pub const TAG: &str = "tinymlp-board=mps2-an505";
#[cfg(feature = "nrf52840")]
pub const TAG: &str = "tinymlp-board=nrf52840";
#[cfg(feature = "rp2040")]
pub const TAG: &str = "tinymlp-board=rp2040";
#[cfg(feature = "rp2350")]
pub const TAG: &str = "tinymlp-board=rp2350";

/// Brings the chip to the state the measurements assume (clocks, caches, debug access);
/// logs what it did. Nothing to do on the QEMU boards.
pub fn init() {
    #[cfg(feature = "nrf52840")]
    nrf52840::init();
    #[cfg(feature = "rp2040")]
    rp2040::init();
    #[cfg(feature = "rp2350")]
    rp2350::init();
}

/// Ends the program; semihosting hands the status to QEMU or probe-rs.
pub fn exit(ok: bool) -> ! {
    let status = if ok {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    };
    loop {
        cortex_m_semihosting::debug::exit(status);
    }
}

/// QEMU has no cycle counter (DWT reads 0). SysTick on the core clock, with QEMU's
/// `-icount shift=0` (one instruction per virtual nanosecond, as runner.sh starts it),
/// ticks once every 1e9 / SYSCLK instructions: 40 on the 25 MHz MPS2 boards, 50 on the
/// 20 MHz AN505.
#[cfg(any(feature = "qemu", feature = "mps2-an500", feature = "mps2-an505"))]
pub const COST_UNIT: &str = "instructions (QEMU -icount, SysTick)";
#[cfg(any(feature = "qemu", feature = "mps2-an500"))]
const SCALE: u32 = 40;
#[cfg(feature = "mps2-an505")]
const SCALE: u32 = 50;

/// DWT's cycle counter.
#[cfg(any(feature = "nrf52840", feature = "rp2350"))]
pub const COST_UNIT: &str = "cycles (DWT CYCCNT)";
/// The Cortex-M0+ has no DWT cycle counter: SysTick on the core clock counts cycles, up to
/// 2^24 per inference (134 ms at 125 MHz).
#[cfg(feature = "rp2040")]
pub const COST_UNIT: &str = "cycles (SysTick)";
#[cfg(feature = "rp2040")]
const SCALE: u32 = 1;

/// Measures a span of code in [`COST_UNIT`].
pub struct CostCounter;

#[cfg(not(any(feature = "nrf52840", feature = "rp2350")))]
impl CostCounter {
    pub fn start() -> Self {
        // SAFETY: nothing else in this program uses SysTick.
        let mut peripherals = unsafe { cortex_m::Peripherals::steal() };
        let syst = &mut peripherals.SYST;
        syst.set_clock_source(cortex_m::peripheral::syst::SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        CostCounter
    }

    pub fn now(&mut self) -> u32 {
        cortex_m::peripheral::SYST::get_current()
    }

    /// SysTick counts down and wraps at 2^24.
    pub fn since(&mut self, before: u32) -> u32 {
        (before.wrapping_sub(self.now()) & 0x00FF_FFFF) * SCALE
    }
}

#[cfg(any(feature = "nrf52840", feature = "rp2350"))]
impl CostCounter {
    pub fn start() -> Self {
        // SAFETY: nothing else in this program uses the DCB or the DWT.
        let mut peripherals = unsafe { cortex_m::Peripherals::steal() };
        peripherals.DCB.enable_trace();
        peripherals.DWT.enable_cycle_counter();
        CostCounter
    }

    pub fn now(&mut self) -> u32 {
        cortex_m::peripheral::DWT::cycle_count()
    }

    pub fn since(&mut self, before: u32) -> u32 {
        self.now().wrapping_sub(before)
    }
}
