//! What differs between boards: the defmt transport, the exit and the cost counter.

#[cfg(any(feature = "nrf52840", feature = "rp2040"))]
use defmt_rtt as _;
#[cfg(any(feature = "qemu", feature = "mps2-an500"))]
use defmt_semihosting as _;

/// The Pico's boot ROM copies these 256 bytes to RAM and runs them to set up
/// execute-in-place from the W25Q080 flash.
#[cfg(feature = "rp2040")]
#[link_section = ".boot2"]
#[used]
static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// First word of the log; `runner.sh` also finds it in the ELF to pick QEMU or probe-rs.
#[cfg(feature = "qemu")]
pub const TAG: &str = "tinymlp-board=mps2-an386";
#[cfg(feature = "mps2-an500")]
pub const TAG: &str = "tinymlp-board=mps2-an500";
#[cfg(feature = "nrf52840")]
pub const TAG: &str = "tinymlp-board=nrf52840";
#[cfg(feature = "rp2040")]
pub const TAG: &str = "tinymlp-board=rp2040";

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
/// ticks once every 1e9 / SYSCLK instructions: 40 on the 25 MHz MPS2 boards.
#[cfg(any(feature = "qemu", feature = "mps2-an500"))]
pub const COST_UNIT: &str = "instructions (QEMU -icount, SysTick x 40)";
#[cfg(any(feature = "qemu", feature = "mps2-an500"))]
const SCALE: u32 = 40;

/// DWT's cycle counter.
#[cfg(feature = "nrf52840")]
pub const COST_UNIT: &str = "cycles (DWT CYCCNT)";
/// The Cortex-M0+ has no DWT cycle counter: SysTick on the core clock counts cycles, up to
/// 2^24 per inference.
#[cfg(feature = "rp2040")]
pub const COST_UNIT: &str = "cycles (SysTick)";
#[cfg(feature = "rp2040")]
const SCALE: u32 = 1;

/// Measures a span of code in [`COST_UNIT`].
pub struct CostCounter;

#[cfg(not(feature = "nrf52840"))]
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

#[cfg(feature = "nrf52840")]
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
